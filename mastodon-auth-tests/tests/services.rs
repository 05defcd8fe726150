//! The throw-away servers themselves: they come up on loopback, stop, and come back on the
//! same port.

use std::net::TcpStream;

use mastodon_auth_tests::{PostgresServer, RedisServer};

#[test]
fn redis_comes_back_on_the_same_port_after_a_kill() {
    let Some(mut redis) = RedisServer::start_or_skip() else {
        return;
    };
    assert!(
        redis.url().starts_with("redis://127.0.0.1:"),
        "{}",
        redis.url()
    );
    assert!(TcpStream::connect(redis.addr()).is_ok());
    redis.kill();
    assert!(TcpStream::connect(redis.addr()).is_err(), "still listening");
    redis.restart().expect("restart");
    assert!(TcpStream::connect(redis.addr()).is_ok());
    let addr = redis.addr();
    drop(redis);
    assert!(TcpStream::connect(addr).is_err(), "drop stops the server");
}

#[test]
fn postgres_comes_back_on_the_same_port_after_a_crash() {
    let Some(mut pg) = PostgresServer::start_or_skip() else {
        return;
    };
    assert!(
        pg.url().starts_with("postgres://postgres@127.0.0.1:"),
        "{}",
        pg.url()
    );
    assert!(TcpStream::connect(pg.addr()).is_ok());
    pg.crash().expect("crash");
    assert!(TcpStream::connect(pg.addr()).is_err(), "still listening");
    pg.restart().expect("restart");
    assert!(TcpStream::connect(pg.addr()).is_ok());
    let addr = pg.addr();
    drop(pg);
    assert!(TcpStream::connect(addr).is_err(), "drop stops the server");
}
