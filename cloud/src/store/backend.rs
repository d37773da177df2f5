//! What differs between the two databases, and nothing else: the trait each store
//! implements for the queries in `sql/`, which are written once.

use serde_json::Value;
use sqlx::{Database, Pool, Transaction};

use super::StoreResult;

/// A connection of the backend's database.
pub(crate) type Conn<B> = <<B as Backend>::Db as Database>::Connection;
/// A transaction of the backend's database.
pub(crate) type Tx<B> = Transaction<'static, <B as Backend>::Db>;
/// A statement of the backend's database, being bound.
pub(crate) type Query<'q, B> = sqlx::query::Query<'q, <B as Backend>::Db, <<B as Backend>::Db as Database>::Arguments>;

/// Bulk reads and writes take their rows in one statement, whatever their number, with
/// the same SQL text every time (so it stays prepared). The rows are JSON arrays, one
/// value per column; `columns` names and types them ("name type, …", as PostgreSQL
/// names types).
pub(crate) trait Backend: Send + Sync + 'static {
    type Db: Database;
    /// Appended to a text column, makes comparisons and `ORDER BY` byte order, the
    /// order progress cursors rely on (nothing where that is how text compares).
    const BYTE_ORDER: &str = "";
    /// Starts a write transaction: what keeps writers of one project in line.
    const BEGIN_WRITE: &str;
    /// Starts a read-only transaction whose statements all see one snapshot.
    const BEGIN_SNAPSHOT: &str;

    /// Where reads go, and where writes go.
    fn pools(&self) -> (&Pool<Self::Db>, &Pool<Self::Db>);
    /// A batch or a progress report was committed (SQLite's checkpointer listens).
    fn wrote(&self) {}

    /// The rows, bound from `$n` on by [`Backend::bind_rows`], as a table `alias` to
    /// select from.
    fn rows(n: usize, alias: &str, columns: &str) -> String;
    /// Binds `rows` for [`Backend::rows`].
    fn bind_rows<'q>(query: Query<'q, Self>, columns: &str, rows: Vec<Value>) -> Query<'q, Self>;

    fn reader(&self) -> &Pool<Self::Db> {
        self.pools().0
    }

    async fn begin_write(&self) -> StoreResult<Tx<Self>> {
        Ok(self.pools().1.begin_with(Self::BEGIN_WRITE).await?)
    }

    async fn begin_snapshot(&self) -> StoreResult<Tx<Self>> {
        Ok(self.reader().begin_with(Self::BEGIN_SNAPSHOT).await?)
    }
}

/// The `(name, type)` pairs of a `columns` text.
pub(crate) fn columns(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.split(", ").filter_map(|column| column.split_once(' '))
}
