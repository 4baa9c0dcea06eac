//! Autopilot, the pure part: its configuration (defaults, validation, Vault's JSON with
//! Go-duration strings), server health, `stable_since` tracking, the decisions the leader
//! takes (promote stable non-voters, remove dead servers within quorum limits) and the
//! `autopilot/state` document. No runtime: callers pass the facts and the current time.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value, json};

use crate::RaftError;

/// The smallest `dead_server_last_contact_threshold` accepted (Vault's is one minute; Tresor
/// accepts shorter values so that operators and tests can use quick cleanup).
pub const MIN_DEAD_SERVER_THRESHOLD: Duration = Duration::from_secs(1);

/// Autopilot settings, as `sys/storage/raft/autopilot/configuration` exposes them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutopilotConfig {
    /// Remove servers that stopped answering for `dead_server_last_contact_threshold`.
    pub cleanup_dead_servers: bool,
    /// How long without contact before a server counts as dead.
    pub dead_server_last_contact_threshold: Duration,
    /// How long without contact before a server counts as unhealthy.
    pub last_contact_threshold: Duration,
    /// How many log entries a server may trail the leader by and stay healthy.
    pub max_trailing_logs: u64,
    /// Cleanup never leaves fewer voters than this.
    pub min_quorum: u64,
    /// How long a non-voter must stay healthy before it is promoted.
    pub server_stabilization_time: Duration,
}

impl Default for AutopilotConfig {
    fn default() -> Self {
        AutopilotConfig {
            cleanup_dead_servers: false,
            dead_server_last_contact_threshold: Duration::from_secs(24 * 3600),
            last_contact_threshold: Duration::from_secs(10),
            max_trailing_logs: 1000,
            min_quorum: 0,
            server_stabilization_time: Duration::from_secs(10),
        }
    }
}

fn invalid(msg: impl Into<String>) -> RaftError {
    RaftError::Config(msg.into())
}

fn duration_field(body: &Map<String, Value>, k: &str) -> Result<Option<Duration>, RaftError> {
    let nanos = match body.get(k) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => tresor_sdk::duration::parse_nanos(s)
            .map_err(|e| invalid(format!("error parsing field {k:?}: {e}")))?,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) => u128::from(secs) * 1_000_000_000,
            None => return Err(invalid(format!("{k} must be a non-negative duration"))),
        },
        Some(_) => return Err(invalid(format!("{k} must be a duration"))),
    };
    Ok(Some(Duration::from_nanos(
        u64::try_from(nanos).map_err(|_| invalid(format!("{k} is too large")))?,
    )))
}

/// One of the lenient field readers of [`tresor_sdk::fields`].
type FieldReader<T> = fn(&Map<String, Value>, &str) -> Result<Option<T>, tresor_sdk::LogicalError>;

fn lenient<T>(
    body: &Map<String, Value>,
    k: &str,
    f: FieldReader<T>,
) -> Result<Option<T>, RaftError> {
    f(body, k).map_err(|e| invalid(e.to_string()))
}

impl AutopilotConfig {
    /// This configuration with the fields present in `body` (a POST body or a stored
    /// document) replaced; absent fields keep their values. Durations are Go-duration strings
    /// or seconds; numbers and booleans may be strings. The result is validated.
    pub fn merged(&self, body: &Map<String, Value>) -> Result<AutopilotConfig, RaftError> {
        let mut c = self.clone();
        if let Some(v) = lenient(body, "cleanup_dead_servers", tresor_sdk::fields::get_bool)? {
            c.cleanup_dead_servers = v;
        }
        if let Some(v) = duration_field(body, "dead_server_last_contact_threshold")? {
            c.dead_server_last_contact_threshold = v;
        }
        if let Some(v) = duration_field(body, "last_contact_threshold")? {
            c.last_contact_threshold = v;
        }
        if let Some(v) = lenient(body, "max_trailing_logs", tresor_sdk::fields::get_u64)? {
            c.max_trailing_logs = v;
        }
        if let Some(v) = lenient(body, "min_quorum", tresor_sdk::fields::get_u64)? {
            c.min_quorum = v;
        }
        if let Some(v) = duration_field(body, "server_stabilization_time")? {
            c.server_stabilization_time = v;
        }
        c.validate()?;
        Ok(c)
    }

    /// Checks the settings make sense together.
    pub fn validate(&self) -> Result<(), RaftError> {
        if self.last_contact_threshold.is_zero() {
            return Err(invalid("last_contact_threshold must be greater than zero"));
        }
        if self.dead_server_last_contact_threshold < MIN_DEAD_SERVER_THRESHOLD {
            return Err(invalid(
                "dead_server_last_contact_threshold must be at least 1s",
            ));
        }
        if self.dead_server_last_contact_threshold < self.last_contact_threshold {
            return Err(invalid(
                "dead_server_last_contact_threshold must not be less than last_contact_threshold",
            ));
        }
        if self.cleanup_dead_servers && self.min_quorum < 3 {
            return Err(invalid(
                "min_quorum must be set to at least 3 when cleanup_dead_servers is enabled",
            ));
        }
        Ok(())
    }

    /// The configuration as Vault returns it (durations as Go-duration strings).
    pub fn to_json(&self) -> Value {
        json!({
            "cleanup_dead_servers": self.cleanup_dead_servers,
            "dead_server_last_contact_threshold": go_duration(self.dead_server_last_contact_threshold),
            "last_contact_threshold": go_duration(self.last_contact_threshold),
            "max_trailing_logs": self.max_trailing_logs,
            "min_quorum": self.min_quorum,
            "server_stabilization_time": go_duration(self.server_stabilization_time),
        })
    }
}

/// Formats `d` as Go's `time.Duration.String()` does: `24h0m0s`, `1m30s`, `2.5s`, `150ms`,
/// `0s`.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    let frac = |value: u128, unit: u128| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let digits = unit.ilog10() as usize;
            let text = format!("{whole}.{rest:0digits$}");
            text.trim_end_matches('0').to_owned()
        }
    };
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", frac(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", frac(nanos, 1_000_000));
    }
    let total_secs = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    let s = (total_secs % 60) * 1_000_000_000 + sub;
    let mut out = String::new();
    if h > 0 {
        let _ = write!(out, "{h}h{m}m");
    } else if m > 0 {
        let _ = write!(out, "{m}m");
    }
    let _ = write!(out, "{}s", frac(s, 1_000_000_000));
    out
}

/// What the leader knows about one server of the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerFacts {
    /// Node id.
    pub id: String,
    /// Cluster address (`host:port`).
    pub address: String,
    /// Whether it votes.
    pub voter: bool,
    /// Whether it joined as a permanent non-voter (never promoted).
    pub permanent_non_voter: bool,
    /// Whether it is the leader (this node).
    pub leader: bool,
    /// Time since the leader last heard from it (zero for the leader; `None`: never, since
    /// this leader started tracking).
    pub last_contact: Option<Duration>,
    /// Highest log index known to be on it.
    pub last_index: u64,
    /// Term of that entry.
    pub last_term: u64,
}

/// A server's health as autopilot judges it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerHealth {
    /// The facts it was judged on.
    pub facts: ServerFacts,
    /// Heard from within `dead_server_last_contact_threshold`.
    pub alive: bool,
    /// Alive, heard from within `last_contact_threshold`, and not trailing by more than
    /// `max_trailing_logs`.
    pub healthy: bool,
    /// Since when it has been in its current health state.
    pub stable_since: SystemTime,
}

/// Judges one server against `config`, given the leader's last log index.
pub fn judge(
    config: &AutopilotConfig,
    facts: &ServerFacts,
    leader_last_index: u64,
) -> (bool, bool) {
    if facts.leader {
        return (true, true);
    }
    let alive = facts
        .last_contact
        .is_some_and(|c| c <= config.dead_server_last_contact_threshold);
    let healthy = alive
        && facts
            .last_contact
            .is_some_and(|c| c <= config.last_contact_threshold)
        && leader_last_index.saturating_sub(facts.last_index) <= config.max_trailing_logs;
    (alive, healthy)
}

/// Remembers, per server, since when its health has been unchanged.
#[derive(Clone, Debug, Default)]
pub struct StabilityTracker {
    since: BTreeMap<String, (bool, SystemTime)>,
}

impl StabilityTracker {
    /// An empty tracker (every server starts its stability clock when first seen).
    pub fn new() -> Self {
        Self::default()
    }

    /// Judges `servers` at `now`, updates the stability clocks (servers no longer present
    /// are forgotten) and returns their health.
    pub fn observe(
        &mut self,
        config: &AutopilotConfig,
        servers: &[ServerFacts],
        now: SystemTime,
    ) -> Vec<ServerHealth> {
        let leader_last_index = servers
            .iter()
            .filter(|s| s.leader)
            .map(|s| s.last_index)
            .max()
            .unwrap_or_else(|| servers.iter().map(|s| s.last_index).max().unwrap_or(0));
        let present: BTreeSet<&str> = servers.iter().map(|s| s.id.as_str()).collect();
        self.since.retain(|id, _| present.contains(id.as_str()));
        servers
            .iter()
            .map(|facts| {
                let (alive, healthy) = judge(config, facts, leader_last_index);
                let entry = self.since.entry(facts.id.clone()).or_insert((healthy, now));
                if entry.0 != healthy {
                    *entry = (healthy, now);
                }
                ServerHealth {
                    facts: facts.clone(),
                    alive,
                    healthy,
                    stable_since: entry.1,
                }
            })
            .collect()
    }
}

/// A membership change autopilot wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Make this non-voter a voter.
    Promote(String),
    /// Remove this server from the configuration.
    Remove(String),
}

/// Decides the membership changes for `servers` (as returned by
/// [`StabilityTracker::observe`]) at `now`:
/// - a healthy non-voter (not a permanent one) stable for `server_stabilization_time` is
///   promoted;
/// - with `cleanup_dead_servers`, a server not heard from for longer than
///   `dead_server_last_contact_threshold` is removed; a voter only while the remaining voters
///   are at least `min_quorum` and the healthy remaining voters still form a majority of the
///   current voters. The leader is never removed.
pub fn decide(config: &AutopilotConfig, servers: &[ServerHealth], now: SystemTime) -> Vec<Action> {
    let mut actions = Vec::new();
    for s in servers {
        let f = &s.facts;
        if !f.voter
            && !f.permanent_non_voter
            && s.healthy
            && now
                .duration_since(s.stable_since)
                .is_ok_and(|d| d >= config.server_stabilization_time)
        {
            actions.push(Action::Promote(f.id.clone()));
        }
    }
    if !config.cleanup_dead_servers {
        return actions;
    }
    let mut voters = servers.iter().filter(|s| s.facts.voter).count() as u64;
    let mut healthy_voters = servers
        .iter()
        .filter(|s| s.facts.voter && s.healthy)
        .count() as u64;
    let majority = voters / 2 + 1;
    for s in servers {
        let f = &s.facts;
        let dead = !f.leader
            && f.last_contact
                .is_some_and(|c| c > config.dead_server_last_contact_threshold);
        if !dead {
            continue;
        }
        if f.voter {
            let left = voters - 1;
            let healthy_left = healthy_voters - u64::from(s.healthy);
            if left < config.min_quorum.max(1) || healthy_left < majority {
                continue;
            }
            voters = left;
            healthy_voters = healthy_left;
        }
        actions.push(Action::Remove(f.id.clone()));
    }
    actions
}

/// How many voters may fail while the healthy voters keep a majority of all voters.
pub fn failure_tolerance(servers: &[ServerHealth]) -> u64 {
    let voters = servers.iter().filter(|s| s.facts.voter).count() as u64;
    let healthy = servers
        .iter()
        .filter(|s| s.facts.voter && s.healthy)
        .count() as u64;
    healthy.saturating_sub(voters / 2 + 1)
}

/// RFC 3339 text of `t` (UTC, second precision).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

/// The `sys/storage/raft/autopilot/state` document for `servers`.
pub fn state_json(servers: &[ServerHealth], version: &str) -> Value {
    let leader = servers
        .iter()
        .find(|s| s.facts.leader)
        .map(|s| s.facts.id.clone())
        .unwrap_or_default();
    let ids = |voter: bool| -> Vec<String> {
        servers
            .iter()
            .filter(|s| s.facts.voter == voter)
            .map(|s| s.facts.id.clone())
            .collect()
    };
    let mut map = Map::new();
    for s in servers {
        let f = &s.facts;
        let node_type = if f.voter { "voter" } else { "non-voter" };
        let status = if f.leader { "leader" } else { node_type };
        let last_contact = match f.last_contact {
            Some(c) if !f.leader => go_duration(Duration::from_millis(c.as_millis() as u64)),
            Some(_) => "0s".to_owned(),
            None => String::new(),
        };
        map.insert(
            f.id.clone(),
            json!({
                "id": f.id,
                "name": f.id,
                "address": f.address,
                "node_status": if s.alive { "alive" } else { "left" },
                "last_contact": last_contact,
                "last_term": f.last_term,
                "last_index": f.last_index,
                "healthy": s.healthy,
                "stable_since": rfc3339(s.stable_since),
                "status": status,
                "version": version,
                "node_type": node_type,
            }),
        );
    }
    let voters = ids(true);
    let healthy = !voters.is_empty() && servers.iter().filter(|s| s.facts.voter).all(|s| s.healthy);
    json!({
        "healthy": healthy,
        "failure_tolerance": failure_tolerance(servers),
        "leader": leader,
        "voters": voters,
        "non_voters": ids(false),
        "servers": Value::Object(map),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    fn server(id: &str, voter: bool, contact_ms: Option<u64>, index: u64) -> ServerFacts {
        ServerFacts {
            id: id.into(),
            address: format!("{id}:8201"),
            voter,
            permanent_non_voter: false,
            leader: false,
            last_contact: contact_ms.map(Duration::from_millis),
            last_index: index,
            last_term: 2,
        }
    }

    fn leader(id: &str, index: u64) -> ServerFacts {
        ServerFacts {
            leader: true,
            last_contact: Some(Duration::ZERO),
            ..server(id, true, Some(0), index)
        }
    }

    #[test]
    fn defaults_render_as_go_durations() {
        let v = AutopilotConfig::default().to_json();
        assert_eq!(v["dead_server_last_contact_threshold"], "24h0m0s");
        assert_eq!(v["last_contact_threshold"], "10s");
        assert_eq!(v["server_stabilization_time"], "10s");
        assert_eq!(v["max_trailing_logs"], 1000);
        assert_eq!(v["min_quorum"], 0);
        assert_eq!(v["cleanup_dead_servers"], false);
    }

    #[test]
    fn go_duration_formats() {
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(Duration::from_secs(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(go_duration(Duration::from_millis(2500)), "2.5s");
        assert_eq!(go_duration(Duration::from_millis(150)), "150ms");
        assert_eq!(go_duration(Duration::from_micros(1500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_nanos(12)), "12ns");
    }

    #[test]
    fn partial_updates_keep_other_fields_and_accept_strings_and_seconds() {
        let base = AutopilotConfig::default();
        let c = base
            .merged(&body(
                json!({"server_stabilization_time": "1h", "min_quorum": "3"}),
            ))
            .unwrap();
        assert_eq!(c.server_stabilization_time, Duration::from_secs(3600));
        assert_eq!(c.min_quorum, 3);
        assert_eq!(c.last_contact_threshold, base.last_contact_threshold);
        assert_eq!(c.to_json()["server_stabilization_time"], "1h0m0s");
        let c = c
            .merged(&body(
                json!({"last_contact_threshold": 20, "cleanup_dead_servers": "true"}),
            ))
            .unwrap();
        assert_eq!(c.last_contact_threshold, Duration::from_secs(20));
        assert!(c.cleanup_dead_servers);
        assert_eq!(c.server_stabilization_time, Duration::from_secs(3600));
        // Round trip through the JSON form.
        assert_eq!(base.merged(&body(c.to_json())).unwrap(), c);
    }

    #[test]
    fn invalid_settings_are_refused() {
        let base = AutopilotConfig::default();
        for bad in [
            json!({"last_contact_threshold": "soon"}),
            json!({"last_contact_threshold": "0s"}),
            json!({"max_trailing_logs": -1}),
            json!({"min_quorum": "many"}),
            json!({"dead_server_last_contact_threshold": "500ms"}),
            json!({"dead_server_last_contact_threshold": "5s"}),
            json!({"cleanup_dead_servers": true}),
            json!({"cleanup_dead_servers": true, "min_quorum": 2}),
            json!({"server_stabilization_time": "-1s"}),
            json!({"server_stabilization_time": [1]}),
        ] {
            assert!(base.merged(&body(bad.clone())).is_err(), "{bad}");
        }
        assert!(
            base.merged(&body(
                json!({"cleanup_dead_servers": true, "min_quorum": 3})
            ))
            .is_ok()
        );
    }

    #[test]
    fn health_needs_contact_and_a_short_log_gap() {
        let cfg = AutopilotConfig::default();
        assert_eq!(
            judge(&cfg, &server("a", true, Some(100), 50), 60),
            (true, true)
        );
        assert_eq!(
            judge(&cfg, &server("a", true, Some(11_000), 60), 60),
            (true, false)
        );
        assert_eq!(
            judge(&cfg, &server("a", true, Some(100), 50), 2000),
            (true, false)
        );
        assert_eq!(
            judge(&cfg, &server("a", true, None, 60), 60),
            (false, false)
        );
        let day = 24 * 3600 * 1000;
        assert_eq!(
            judge(&cfg, &server("a", true, Some(day + 1), 60), 60),
            (false, false)
        );
        assert_eq!(judge(&cfg, &leader("l", 0), 60), (true, true));
    }

    #[test]
    fn stable_since_restarts_when_health_changes() {
        let cfg = AutopilotConfig::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut tr = StabilityTracker::new();
        let h = tr.observe(
            &cfg,
            &[leader("l", 10), server("a", false, Some(5), 10)],
            t0,
        );
        assert_eq!(h[1].stable_since, t0);
        let t1 = t0 + Duration::from_secs(3);
        let h = tr.observe(
            &cfg,
            &[leader("l", 10), server("a", false, Some(5), 10)],
            t1,
        );
        assert_eq!(h[1].stable_since, t0, "unchanged health keeps its clock");
        let t2 = t1 + Duration::from_secs(3);
        let h = tr.observe(
            &cfg,
            &[leader("l", 10), server("a", false, Some(20_000), 10)],
            t2,
        );
        assert!(!h[1].healthy);
        assert_eq!(h[1].stable_since, t2);
        // A server that left and came back starts again.
        tr.observe(&cfg, &[leader("l", 10)], t2);
        let t3 = t2 + Duration::from_secs(1);
        let h = tr.observe(
            &cfg,
            &[leader("l", 10), server("a", false, Some(5), 10)],
            t3,
        );
        assert_eq!(h[1].stable_since, t3);
    }

    #[test]
    fn stable_healthy_non_voters_are_promoted_but_not_permanent_ones() {
        let cfg = AutopilotConfig::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let mut tr = StabilityTracker::new();
        let mut permanent = server("p", false, Some(5), 10);
        permanent.permanent_non_voter = true;
        let servers = [
            leader("l", 10),
            server("a", false, Some(5), 10),
            permanent,
            server("slow", false, Some(5), 0),
        ];
        let h = tr.observe(&cfg, &servers, t0);
        assert!(decide(&cfg, &h, t0 + Duration::from_secs(9)).is_empty());
        let later = t0 + Duration::from_secs(10);
        let h = tr.observe(&cfg, &servers, later);
        // "slow" trails by 10 entries only: healthy too.
        assert_eq!(
            decide(&cfg, &h, later),
            vec![Action::Promote("a".into()), Action::Promote("slow".into())]
        );
        let lagging = [leader("l", 5000), server("a", false, Some(5), 10)];
        let h = tr.observe(&cfg, &lagging, later);
        assert!(decide(&cfg, &h, later + Duration::from_secs(60)).is_empty());
    }

    fn cleanup_cfg(min_quorum: u64) -> AutopilotConfig {
        AutopilotConfig {
            cleanup_dead_servers: true,
            dead_server_last_contact_threshold: Duration::from_secs(5),
            last_contact_threshold: Duration::from_secs(2),
            min_quorum,
            ..AutopilotConfig::default()
        }
    }

    fn observe_now(cfg: &AutopilotConfig, servers: &[ServerFacts]) -> Vec<ServerHealth> {
        StabilityTracker::new().observe(cfg, servers, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn dead_servers_are_removed_within_min_quorum_and_majority() {
        let now = SystemTime::UNIX_EPOCH;
        // Four voters, one dead, min_quorum 3: removed.
        let cfg = cleanup_cfg(3);
        let four = [
            leader("l", 10),
            server("a", true, Some(10), 10),
            server("b", true, Some(10), 10),
            server("dead", true, Some(6_000), 10),
        ];
        let h = observe_now(&cfg, &four);
        assert_eq!(decide(&cfg, &h, now), vec![Action::Remove("dead".into())]);
        // Three voters, min_quorum 3: kept.
        let three = [
            leader("l", 10),
            server("a", true, Some(10), 10),
            server("dead", true, Some(6_000), 10),
        ];
        let h = observe_now(&cfg, &three);
        assert!(decide(&cfg, &h, now).is_empty());
        // Cleanup off: kept.
        let off = AutopilotConfig {
            cleanup_dead_servers: false,
            ..cfg.clone()
        };
        assert!(decide(&off, &observe_now(&off, &four), now).is_empty());
        // Only as many removals as min_quorum allows.
        let five_two_dead = [
            leader("l", 10),
            server("a", true, Some(10), 10),
            server("b", true, Some(10), 10),
            server("d1", true, Some(6_000), 10),
            server("d2", true, Some(6_000), 10),
        ];
        let h = observe_now(&cfg, &five_two_dead);
        assert_eq!(
            decide(&cfg, &h, now),
            vec![Action::Remove("d1".into()), Action::Remove("d2".into())]
        );
        let cfg4 = cleanup_cfg(4);
        let h = observe_now(&cfg4, &five_two_dead);
        assert_eq!(decide(&cfg4, &h, now), vec![Action::Remove("d1".into())]);
        let cfg2 = cleanup_cfg(3);
        // Never below a healthy majority of the current voters: 5 voters, 2 healthy only.
        let unhealthy = [
            leader("l", 10),
            server("slow", true, Some(3_000), 10),
            server("a", true, Some(10), 10),
            server("d1", true, Some(6_000), 10),
            server("d2", true, Some(6_000), 10),
        ];
        let h = observe_now(&cfg2, &unhealthy);
        assert!(
            decide(&cfg2, &h, now).is_empty(),
            "{:?}",
            decide(&cfg2, &h, now)
        );
        // A dead non-voter goes regardless of quorum.
        let nv = [
            leader("l", 10),
            server("a", true, Some(10), 10),
            server("gone", false, Some(6_000), 10),
        ];
        let h = observe_now(&cfg, &nv);
        assert_eq!(decide(&cfg, &h, now), vec![Action::Remove("gone".into())]);
    }

    #[test]
    fn state_document_has_vault_fields() {
        let cfg = AutopilotConfig::default();
        let mut p = server("c", false, Some(20), 9);
        p.permanent_non_voter = true;
        let h = observe_now(
            &cfg,
            &[leader("l", 10), server("a", true, Some(1234), 10), p],
        );
        assert_eq!(failure_tolerance(&h), 0);
        let st = state_json(&h, "0.1.0");
        assert_eq!(st["healthy"], true);
        assert_eq!(st["leader"], "l");
        assert_eq!(st["voters"], json!(["l", "a"]));
        assert_eq!(st["non_voters"], json!(["c"]));
        let a = &st["servers"]["a"];
        assert_eq!(a["last_contact"], "1.234s");
        assert_eq!(a["status"], "voter");
        assert_eq!(a["node_status"], "alive");
        assert_eq!(a["stable_since"], "1970-01-01T00:00:00Z");
        assert_eq!(st["servers"]["l"]["status"], "leader");
        assert_eq!(st["servers"]["l"]["last_contact"], "0s");
        assert_eq!(st["servers"]["c"]["node_type"], "non-voter");
        let three = observe_now(
            &cfg,
            &[
                leader("l", 10),
                server("a", true, Some(1), 10),
                server("b", true, Some(1), 10),
            ],
        );
        assert_eq!(failure_tolerance(&three), 1);
        let one_down = observe_now(
            &cfg,
            &[
                leader("l", 10),
                server("a", true, Some(1), 10),
                server("b", true, None, 10),
            ],
        );
        assert_eq!(failure_tolerance(&one_down), 0);
        assert_eq!(state_json(&one_down, "x")["healthy"], false);
        assert_eq!(
            state_json(&one_down, "x")["servers"]["b"]["node_status"],
            "left"
        );
    }
}
