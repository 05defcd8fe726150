//! Mastodon.py's credential files: a client file (`create_app(to_file=…)`) and a user file
//! (`log_in(to_file=…)`), read and written exactly as Mastodon.py does on POSIX.
//!
//! The file formats (parse and render, usable on their own) are [`ClientFile`] and
//! [`UserFile`]; [`MastodonPyFiles`] is the store over the two files.

mod format;
mod store;

pub use format::{
    ClientFile, UserFile, parse_client_file, parse_user_file, render_client_file, render_user_file,
};
pub use store::MastodonPyFiles;
