//! Examples and the command-line tool (being built).
