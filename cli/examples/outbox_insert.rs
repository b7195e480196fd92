//! The application side of `smtpwire outbox`: an order and its confirmation mail, written in
//! one transaction with tokio-postgres (the crate the CLI uses). The mail exists if and only if
//! the order does; `smtpwire outbox run` sends it after the commit, once.
//!
//! ```sh
//! smtpwire outbox init --database "$SMTPWIRE_DATABASE_URL"
//! SMTPWIRE_DATABASE_URL=postgresql://shop@localhost/shop \
//!     cargo run -p smtpwire-cli --example outbox_insert -- 1234 zhangsan@qq.com
//! ```

use serde_json::json;
use tokio_postgres::NoTls;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("SMTPWIRE_DATABASE_URL")?;
    let mut args = std::env::args().skip(1);
    let order: i64 = args.next().unwrap_or_else(|| "1234".into()).parse()?;
    let email = args.next().unwrap_or_else(|| "zhangsan@qq.com".into());

    let (mut client, connection) = tokio_postgres::connect(&url, NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, email text NOT NULL)",
        )
        .await?;

    let transaction = client.transaction().await?;
    transaction
        .execute(
            "INSERT INTO orders (id, email) VALUES ($1, $2)",
            &[&order, &email],
        )
        .await?;
    // The JSON form of `smtpwire send --message`; `message_id` is the idempotency key: the
    // same order never mails twice, even if this transaction is retried.
    let mail = json!({
        "from": "Shop <shop@example.com>",
        "to": email,
        "subject": format!("Order {order} confirmed"),
        "text": format!("Thank you for order {order}."),
    });
    transaction
        .execute(
            "INSERT INTO smtpwire.outbox (message_id, message) VALUES ($1, $2)
             ON CONFLICT (message_id) DO NOTHING",
            &[&format!("order-{order}-confirmation"), &mail],
        )
        .await?;
    // Until here nothing is visible to the workers; a rollback (or a crash) sends nothing.
    transaction.commit().await?;
    println!("order {order} stored; its confirmation is queued in smtpwire.outbox");
    Ok(())
}
