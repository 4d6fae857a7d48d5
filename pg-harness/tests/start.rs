//! The shared server: separate databases, the settings it promises, psql's errors.

use techpack_pg_harness::server;

#[test]
fn databases_are_separate() {
    let Some(pg) = server() else { return };
    let a = pg.database();
    let b = pg.database();
    assert_ne!(a, b);
    assert!(a.starts_with(&format!("postgresql://techpack@127.0.0.1:{}/", pg.port())));

    pg.psql(
        &a,
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items VALUES (1, 'one'), (2, 'two')",
    );
    assert_eq!(
        pg.psql(&a, "SELECT id, name FROM items ORDER BY id"),
        "1|one\n2|two"
    );
    let items = "SELECT count(*) FROM pg_tables WHERE tablename = 'items'";
    assert_eq!(pg.psql(&a, items), "1");
    assert_eq!(pg.psql(&b, items), "0");
}

#[test]
fn one_fast_server_per_process() {
    let Some(pg) = server() else { return };
    assert!(std::ptr::eq(pg, server().unwrap()));
    assert_eq!(pg.psql("postgres", "SELECT current_user"), "techpack");
    let settings = "SELECT string_agg(name || '=' || setting, ',' ORDER BY name) FROM pg_settings \
         WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'max_connections', 'listen_addresses')";
    assert_eq!(
        pg.psql("postgres", settings),
        "fsync=off,full_page_writes=off,listen_addresses=127.0.0.1,max_connections=200,synchronous_commit=off"
    );
}

#[test]
fn psql_panics_with_the_error() {
    let Some(pg) = server() else { return };
    let err = std::panic::catch_unwind(|| pg.psql("postgres", "SELECT * FROM no_such_table"))
        .expect_err("psql should panic on an SQL error");
    let message = err.downcast_ref::<String>().expect("a String panic");
    assert!(message.contains("no_such_table"), "{message}");
}
