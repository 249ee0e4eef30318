//! Scripted faults: what to do with the next matching request (an error code, a held,
//! dropped or delayed answer, a cut connection), and brokers going down.

use std::time::Duration;

use crate::codec::ApiKey;
use crate::consumer::Consumer;
use crate::error_code::ErrorCode;

use super::cluster::TestCluster;

/// What to do with the next matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer with this error code (every partition for Fetch / ListOffsets / OffsetCommit,
    /// every topic for Metadata, top level for ApiVersions and the group APIs, per key for
    /// FindCoordinator v4+). A group API answered so changes nothing in the group.
    Error(i16),
    /// Keep the answer until [`TestCluster::release_held`].
    Hold,
    /// Never answer (the request times out after `request_timeout`). A group API request
    /// is lost on the way: the coordinator never sees it.
    Drop,
    /// Answer this much later than usual.
    Delay(Duration),
    /// Lose the connection right after receiving the request.
    Cut,
}

#[derive(Debug, Clone)]
pub(super) struct Rule {
    api: ApiKey,
    broker: Option<i32>,
    client: Option<usize>,
    action: Action,
    /// Applies to every matching request until removed, not just the next one.
    repeat: bool,
}

impl TestCluster {
    // ---- brokers going down ----

    /// Refuses (or accepts again) connections to `broker`; going down cuts its connections.
    pub fn set_down(&mut self, consumer: &mut Consumer, broker: i32, down: bool) {
        self.brokers.get_mut(&broker).expect("broker").down = down;
        if down {
            self.cut(consumer, broker);
        }
    }

    /// Like [`set_down`](Self::set_down) for every client: going down cuts every
    /// connection to `broker`, and each client learns of it at its next step or poll (the
    /// way to do it while consumers run over [`SimNetwork`](super::SimNetwork)s).
    pub fn set_broker_down(&mut self, broker: i32, down: bool) {
        self.brokers.get_mut(&broker).expect("broker").down = down;
        if down {
            self.cut_all(broker);
        }
    }

    // ---- scripted faults ----

    fn rule(
        &mut self,
        api: ApiKey,
        broker: Option<i32>,
        client: Option<usize>,
        action: Action,
        repeat: bool,
    ) {
        self.rules.push(Rule {
            api,
            broker,
            client,
            action,
            repeat,
        });
    }

    /// The next `api` request (to any broker) gets `action`.
    pub fn on_next(&mut self, api: ApiKey, action: Action) {
        self.rule(api, None, None, action, false);
    }

    /// The next `api` request to `broker` gets `action`.
    pub fn on_next_to(&mut self, broker: i32, api: ApiKey, action: Action) {
        self.rule(api, Some(broker), None, action, false);
    }

    /// The next `api` request of `client` gets `action`.
    pub fn on_next_from(&mut self, client: usize, api: ApiKey, action: Action) {
        self.rule(api, None, Some(client), action, false);
    }

    /// Every `api` request of `client` (any client: None) gets `action` until
    /// [`clear_rules`](Self::clear_rules).
    pub fn always(&mut self, client: Option<usize>, api: ApiKey, action: Action) {
        self.rule(api, None, client, action, true);
    }

    /// Forgets every scripted action not taken yet.
    pub fn clear_rules(&mut self) {
        self.rules.clear();
    }

    /// The next `api` request is answered with error `code`.
    pub fn inject_error(&mut self, api: ApiKey, code: ErrorCode) {
        self.on_next(api, Action::Error(code.code()));
    }

    /// The answer to the next `api` request is kept until [`release_held`](Self::release_held).
    pub fn hold_next(&mut self, api: ApiKey) {
        self.on_next(api, Action::Hold);
    }

    /// The next `api` request is never answered.
    pub fn drop_next(&mut self, api: ApiKey) {
        self.on_next(api, Action::Drop);
    }

    /// The answer to the next `api` request comes `by` later.
    pub fn delay_next(&mut self, api: ApiKey, by: Duration) {
        self.on_next(api, Action::Delay(by));
    }

    /// The action for a request of `api` from `client` to `broker`, if a rule matches (a
    /// one-off rule is used up).
    pub(super) fn take_rule(&mut self, api: ApiKey, broker: i32, client: usize) -> Option<Action> {
        let i = self.rules.iter().position(|r| {
            r.api == api
                && r.broker.is_none_or(|b| b == broker)
                && r.client.is_none_or(|c| c == client)
        })?;
        if self.rules[i].repeat {
            return Some(self.rules[i].action);
        }
        Some(self.rules.remove(i).action)
    }
}
