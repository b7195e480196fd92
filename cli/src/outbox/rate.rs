//! The rate limit every worker shares, kept in the database: a token per message, recorded
//! in `smtpwire.rate_grants`, at most N in any window of the interval's length however many
//! workers ask (`smtpwire.take_rate_tokens` serialises them per bucket).

use super::db::{Db, DbError};
use smtpwire::pool::Rate;
use std::time::Duration;

/// A shared limit on one bucket (an account, usually).
#[derive(Clone, Debug)]
pub struct SharedRate {
    /// The bucket's name: workers with the same one share the limit.
    pub bucket: String,
    /// The limit.
    pub rate: Rate,
}

impl SharedRate {
    /// Takes tokens for the first messages of `ids` (one each): how many were granted, and,
    /// when fewer than asked, how long until the next one comes back.
    pub async fn take(&self, db: &Db, ids: &[String]) -> Result<(usize, Duration), DbError> {
        let limit = i32::try_from(self.rate.count()).unwrap_or(i32::MAX);
        let per = self.rate.interval().as_secs_f64();
        let rows = db
            .with(|conn| async move {
                conn.query(
                    "SELECT granted, wait_ms FROM smtpwire.take_rate_tokens(\
                     $1, $2, make_interval(secs => $3), $4)",
                    &[&self.bucket, &limit, &per, &ids],
                )
                .await
            })
            .await?;
        let (granted, wait_ms): (i32, f64) = rows
            .first()
            .map_or((0, 1000.0), |row| (row.get(0), row.get(1)));
        let wait = Duration::from_secs_f64((wait_ms / 1000.0).clamp(0.001, 3600.0));
        Ok((usize::try_from(granted).unwrap_or(0), wait))
    }

    /// Forgets grants older than an hour (or the interval, if longer).
    pub async fn prune(&self, db: &Db) -> Result<u64, DbError> {
        let keep = self.rate.interval().as_secs_f64().max(3600.0);
        db.with(|conn| async move {
            conn.execute(
                "DELETE FROM smtpwire.rate_grants \
                 WHERE bucket = $1 AND granted_at < clock_timestamp() - make_interval(secs => $2)",
                &[&self.bucket, &keep],
            )
            .await
        })
        .await
    }
}
