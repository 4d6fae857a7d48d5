//! An owned server for benchmarks: durable settings, gone once dropped.

use std::net::TcpStream;

#[test]
fn durable_server_syncs_and_stops_when_dropped() {
    if !techpack_pg_harness::available() {
        return; // tests/start.rs prints the skip notice (or fails, in CI)
    }
    let pg = techpack_pg_harness::start_durable();
    let url = pg.database();
    let settings = "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings \
         WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections')";
    assert_eq!(
        pg.psql(&url, settings),
        "fsync=on,full_page_writes=on,max_connections=200,synchronous_commit=on"
    );
    let port = pg.port();
    assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    drop(pg);
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "still listening on {port}"
    );
}
