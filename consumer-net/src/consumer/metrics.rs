//! Lag and metrics of a [`KafkaConsumer`]: read from the core, never a network call.

use consumer_core::{ConsumerMetrics, TopicPartition};

use super::KafkaConsumer;
use crate::transport::Transport;

impl<T: Transport> KafkaConsumer<T> {
    /// The lag of `tp`, as Java's `currentLag`: from the consumer's position to the end of
    /// the partition as last seen in a fetch answer (the high watermark; the last stable
    /// offset under `read_committed`). None when `tp` is not assigned, or its position or
    /// end is not known yet. It asks the broker nothing (Java's would start an end-offset
    /// lookup): [`end_offsets`](Self::end_offsets) does.
    pub fn current_lag(&self, tp: &TopicPartition) -> Option<i64> {
        self.core.current_lag(tp)
    }

    /// A snapshot of the consumer's metrics: per assigned partition (position, end, lag,
    /// records and bytes consumed) and totals (records and bytes, fetches and their
    /// latency, rebalances, commits). See [`ConsumerMetrics`].
    pub fn metrics(&self) -> ConsumerMetrics {
        self.core.metrics()
    }
}
