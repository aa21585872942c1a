//! A test that cannot reach PostgreSQL fails and says how to fix it, without leaking the
//! password. Its own test binary, because it changes DATABASE_URL for the whole process.

use carelog_testkit::TestDatabase;

#[tokio::test]
async fn an_unreachable_server_fails_with_advice_and_no_password() {
    // Port 1 (tcpmux) is privileged and unused: nothing answers there.
    std::env::set_var(
        "DATABASE_URL",
        "postgres://carelog:hunter2@127.0.0.1:1/carelog",
    );
    let error = match TestDatabase::create().await {
        Ok(database) => panic!("created {database:?} on a server that should not exist"),
        Err(error) => format!("{error:#}"),
    };
    assert!(
        error.starts_with(
            "PostgreSQL not reachable at postgres://carelog:***@127.0.0.1:1/carelog: \
             run `make up` or set DATABASE_URL"
        ),
        "{error}"
    );
    assert!(!error.contains("hunter2"), "{error}");
}
