//! Reliable sending at volume: a pool of connections to one server and account, with retries,
//! a rate limit, a circuit breaker and observability.

mod breaker;
mod events;
mod metrics;
mod rate;
mod retry;

pub use breaker::BreakerPolicy;
pub use events::{CloseReason, Event, Observer};
pub use metrics::{HistogramSnapshot, Metrics, MetricsSnapshot};
pub use rate::Rate;
pub use retry::RetryPolicy;
