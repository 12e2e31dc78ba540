//! A fresh database per test: a SQLite file in a temp dir, or a new PostgreSQL database
//! created through `TEST_DATABASE_URL` (CI sets it; with `CI=true` a missing or unreachable
//! PostgreSQL fails the test instead of skipping it).

use std::time::Duration;

use sqlx::Connection as _;

/// Which backend a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that lives as long as the test.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(String, String)>,
}

impl TestDatabase {
    /// A new empty database, or `None` when PostgreSQL is not configured outside CI.
    pub async fn create(backend: Backend) -> Option<TestDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}/baithak.db", dir.path().display());
                Some(TestDatabase {
                    url,
                    _dir: Some(dir),
                    drop_pg: None,
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var("TEST_DATABASE_URL") else {
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI=true but TEST_DATABASE_URL is not set: the PostgreSQL half of the suite must run"
                    );
                    eprintln!(
                        "TEST_DATABASE_URL not set: skipping the PostgreSQL variant of this test"
                    );
                    return None;
                };
                let name = format!("baithak_test_{:016x}", rand::random::<u64>());
                let mut admin = tokio::time::timeout(
                    Duration::from_secs(10),
                    sqlx::PgConnection::connect(&admin_url),
                )
                .await
                .expect("PostgreSQL did not answer within 10 s")
                .expect("cannot connect to TEST_DATABASE_URL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut admin)
                    .await
                    .expect("create test database");
                let _ = admin.close().await;
                let url = replace_db_name(&admin_url, &name);
                Some(TestDatabase {
                    url,
                    _dir: None,
                    drop_pg: Some((admin_url, name)),
                })
            }
        }
    }
}

impl TestDatabase {
    /// The same database for a second instance of the app; only the first handle cleans up,
    /// so it must outlive this one.
    #[allow(dead_code)] // this file is shared by several test binaries
    pub fn share(&self) -> TestDatabase {
        TestDatabase {
            url: self.url.clone(),
            _dir: None,
            drop_pg: None,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some((admin_url, name)) = self.drop_pg.take() else {
            return;
        };
        // Best effort, on a thread of its own: Drop cannot await. CI also sweeps leftovers.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

fn replace_db_name(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    }
}

/// Copies a folder tree (content fixtures into a temp dir a test may edit).
#[allow(dead_code)] // this file is shared by several test binaries; not every one copies
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Declares a test once and runs it on both backends as `NAME_sqlite` and `NAME_postgres`.
#[macro_export]
macro_rules! both_backends {
    ($(async fn $name:ident($backend:ident: Backend) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                use $crate::support::database::Backend;

                async fn run($backend: Backend) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    run(Backend::Sqlite).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    run(Backend::Postgres).await;
                }
            }
        )*
    };
}
