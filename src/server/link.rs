//! The group-commit writer's connection during one batch: plain — each statement commits
//! by itself — until the batch first writes something that must commit together with the
//! rest, then a transaction. Reads need none: every write of the writer is conditional on
//! the version it read (a row another replica changed meanwhile is re-read and merged), so
//! reading before `BEGIN` sees nothing a read after it would not. A batch whose only write
//! is one statement over its shoppers' rows sends it without `BEGIN` / `COMMIT`: two round
//! trips fewer, most of a small batch's time on Postgres, and on SQLite two statements
//! fewer through the connection's own thread.

use sqlx::{Any, AnyConnection, Connection};

use super::storage::{StorageError, StorageResult};

/// The connection of a batch.
pub enum Link<'c> {
    /// No transaction: each statement commits by itself.
    Plain(&'c mut AnyConnection),
    /// A transaction is open; [`Link::commit`] ends it.
    Tx(sqlx::Transaction<'c, Any>),
    /// Only while `BEGIN` is under way (and after it failed).
    Opening,
}

impl<'c> Link<'c> {
    /// The connection to run the next statement on.
    pub fn conn(&mut self) -> StorageResult<&mut AnyConnection> {
        match self {
            Link::Plain(conn) => Ok(conn),
            Link::Tx(tx) => Ok(&mut **tx),
            Link::Opening => Err(lost()),
        }
    }

    /// True once a transaction is open.
    pub fn in_transaction(&self) -> bool {
        matches!(self, Link::Tx(_))
    }

    /// Opens the transaction unless one is open: call before a write that must commit
    /// together with the batch's other writes.
    pub async fn begin(&mut self) -> StorageResult<()> {
        if let Link::Plain(_) = self {
            if let Link::Plain(conn) = std::mem::replace(self, Link::Opening) {
                *self = Link::Tx(conn.begin().await?);
            }
        }
        Ok(())
    }

    /// Commits the transaction when one is open (plain statements committed already).
    /// A link whose `BEGIN` failed has nothing to commit, and says so.
    pub async fn commit(self) -> StorageResult<()> {
        match self {
            Link::Plain(_) => Ok(()),
            Link::Tx(tx) => Ok(tx.commit().await?),
            Link::Opening => Err(lost()),
        }
    }
}

/// The error of a link whose `BEGIN` failed or was cancelled.
fn lost() -> StorageError {
    StorageError::Sql(sqlx::Error::Protocol("the batch's connection was lost opening a transaction".into()))
}
