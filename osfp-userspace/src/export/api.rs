//! The HTTP side of `osfp run`: /metrics, the JSON API and the health checks.
//!
//! The per-source table belongs to the consumer loop; handlers never touch it. They
//! send a [`Query`] over a bounded channel (503 when it is full) and the loop answers
//! between two ring-buffer batches, so no lock sits on the packet path. A loop that
//! does not answer within [`ANSWER_TIMEOUT`] makes /readyz fail. Nothing a request
//! asks of the loop grows with the table: a list is paged from an ordered index built
//! off the packet thread ([`super::source_index`]), and the loop only fills in the
//! page's sources.
//!
//! - `GET /api/v1/sources?family=&unknown=&scanning=&multiple_hosts=&limit=&after=`:
//!   sources by address, `limit` (1..=1000, default 100) per page; `next` is the `after`
//!   of the next page; `as_of` the time of the index (see [`SourceIndex::max_age`]).
//! - `GET /api/v1/sources/{addr}`: all we know of one address, now.
//! - `GET /healthz`: the process serves HTTP. `GET /readyz`: attached and consuming.

use std::{
    collections::{HashMap, HashSet},
    net::IpAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    extract::{Path, Query as UrlQuery, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use prometheus::{Registry, TextEncoder};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Mutex};

use strum::IntoEnumIterator;

use super::source_index::{SourceIndex, Traits, Walked};
use crate::{
    analysis::fingerprint::{Database, Family},
    capture::kernel::Attachment,
    pipeline::Pipeline,
    sources::{source_family, SourceJson, SourceState},
};

pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// A walk of the table goes in steps between ring batches: at a large table under
/// load it takes longer than one answer.
pub const WALK_TIMEOUT: Duration = Duration::from_secs(20);
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;
/// Requests waiting for the consumer loop at most; more get 503.
pub const QUEUE: usize = 64;

/// A question for the consumer loop.
pub enum Query {
    /// A copy of the table for the index, unless the loop's generation is still the
    /// one given (`None` back).
    Walk(Option<u64>, oneshot::Sender<Option<Walked>>),
    /// The page's sources that are still in the table and still pass the filter.
    Page(Vec<IpAddr>, Filter, oneshot::Sender<String>),
    Source(IpAddr, oneshot::Sender<Option<Value>>),
    Ready(oneshot::Sender<Value>),
}

/// `/api/v1/sources` parameters, checked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    /// The family of the source's most frequent verdict.
    pub family: Option<Family>,
    /// Some fingerprint of the source matched nothing (or none did, with false).
    pub unknown: Option<bool>,
    /// A scan in progress or one that ended.
    pub scanning: Option<bool>,
    /// Several machines behind the address (clock analysis).
    pub multiple_hosts: Option<bool>,
    pub limit: usize,
    pub after: Option<IpAddr>,
}

fn boolean(k: &str, v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("{k}={v:?}: expected true or false")),
    }
}

impl Filter {
    pub fn parse(params: &HashMap<String, String>) -> Result<Filter, String> {
        let mut f = Filter {
            limit: DEFAULT_LIMIT,
            ..Filter::default()
        };
        let mut keys: Vec<_> = params.iter().collect();
        keys.sort();
        for (k, v) in keys {
            match k.as_str() {
                "family" => {
                    f.family = Some(
                        Family::iter()
                            .into_iter()
                            .find(|x| x.name() == v)
                            .ok_or_else(|| {
                                let names: Vec<_> = Family::iter().map(|x| x.name()).collect();
                                format!("family={v:?}: expected one of {}", names.join(", "))
                            })?,
                    )
                }
                "unknown" => f.unknown = Some(boolean(k, v)?),
                "scanning" => f.scanning = Some(boolean(k, v)?),
                "multiple_hosts" => f.multiple_hosts = Some(boolean(k, v)?),
                "limit" => {
                    f.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| format!("limit={v:?}: expected 1 to {MAX_LIMIT}"))?
                }
                "after" => {
                    f.after = Some(
                        v.parse()
                            .map_err(|_| format!("after={v:?}: not an IP address"))?,
                    )
                }
                _ => {
                    return Err(format!(
                        "unknown parameter {k:?} (family, unknown, scanning, multiple_hosts, limit, after)"
                    ))
                }
            }
        }
        Ok(f)
    }
}

#[derive(Serialize)]
struct SourceOut {
    /// The family of the most frequent verdict.
    family: &'static str,
    scan_active: bool,
    #[serde(flatten)]
    source: SourceJson,
}

impl SourceOut {
    fn new(p: &Pipeline, db: &Database, src: IpAddr, s: &SourceState, family: Family) -> Self {
        SourceOut {
            family: family.name(),
            scan_active: p.scans.is_active(&src),
            source: s.to_json(src, db),
        }
    }
}

fn source_json(p: &Pipeline, db: &Database, src: IpAddr, s: &SourceState) -> Value {
    serde_json::to_value(SourceOut::new(p, db, src, s, source_family(s, db))).unwrap_or(Value::Null)
}

/// The JSON array of the page's sources, those still in the table and still passing
/// `f` (the index may be up to [`SourceIndex::max_age`] old). `multi`: as in
/// [`Traits::of`]. Written straight to text, not through a `Value` tree: this runs on
/// the packet thread (BENCHMARKS.md, "API at 1 M sources").
pub fn page_sources(
    p: &Pipeline,
    db: &Database,
    addrs: &[IpAddr],
    f: &Filter,
    multi: &HashSet<IpAddr>,
) -> String {
    let mut out = Vec::with_capacity(1024 * addrs.len());
    out.push(b'[');
    for a in addrs {
        let Some(s) = p.sources.get(a) else { continue };
        let t = Traits::of(p, db, a, s, multi);
        if !f.admits(t) {
            continue;
        }
        if out.len() > 1 {
            out.push(b',');
        }
        let o = SourceOut::new(p, db, *a, s, t.family());
        serde_json::to_writer(&mut out, &o).expect("serialising to memory");
    }
    out.push(b']');
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Everything about one address, if it is in the table.
pub fn source(p: &Pipeline, db: &Database, src: IpAddr) -> Option<Value> {
    let s = p.sources.get(&src)?;
    Some(source_json(p, db, src, s))
}

/// The body of a ready `/readyz`: what the sensor watches, with which build of the XDP
/// program on which kernel, and which database.
pub fn readiness(at: &Attachment, db: &Database, sources: usize, uptime: Duration) -> Value {
    json!({
        "ready": true,
        "interfaces": at.iface_names(),
        "xdp_modes": at.ifaces.iter().map(|(_, m)| *m).collect::<Vec<_>>(),
        "kernel": at.release,
        "program": at.program,
        "database": db.name,
        "signatures": db.sigs[0].len() + db.sigs[1].len(),
        "sources": sources,
        "uptime_seconds": uptime.as_secs(),
    })
}

#[derive(Clone)]
pub struct ApiState {
    pub registry: Arc<Registry>,
    pub queries: mpsc::Sender<Query>,
    /// The last index and when it was last found current.
    pub index: Arc<std::sync::Mutex<Option<CachedIndex>>>,
    /// Held by the one request that asks the loop for a walk.
    pub refresh: Arc<Mutex<()>>,
}

/// An index and when it was last found current.
type CachedIndex = (Arc<SourceIndex>, Instant);

impl ApiState {
    pub fn new(registry: Arc<Registry>, queries: mpsc::Sender<Query>) -> ApiState {
        ApiState {
            registry,
            queries,
            index: Arc::default(),
            refresh: Arc::default(),
        }
    }
}

fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(json!({"error": msg.into()}))).into_response()
}

/// Sends a query and waits for the loop's answer.
async fn ask<T>(st: &ApiState, q: impl FnOnce(oneshot::Sender<T>) -> Query) -> Result<T, Response> {
    ask_within(st, ANSWER_TIMEOUT, q).await
}

async fn ask_within<T>(
    st: &ApiState,
    wait: Duration,
    q: impl FnOnce(oneshot::Sender<T>) -> Query,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    st.queries.try_send(q(tx)).map_err(|_| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("busy: {QUEUE} requests already wait for the consumer loop"),
        )
    })?;
    match tokio::time::timeout(wait, rx).await {
        Ok(Ok(v)) => Ok(v),
        _ => Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the consumer loop did not answer within {wait:?}"),
        )),
    }
}

/// The index to page from: the last one if it is young or the table has not changed
/// since, else a new one from a walk, sorted in the blocking pool. One request at a time
/// asks for a walk and waits for it; requests meanwhile page from the previous index
/// (only the very first ones wait), so no page waits for a walk another asked for.
async fn current_index(st: &ApiState) -> Result<Arc<SourceIndex>, Response> {
    let cached = || st.index.lock().expect("index lock").clone();
    let young = |c: &Option<CachedIndex>| {
        c.as_ref()
            .filter(|(idx, checked)| checked.elapsed() < idx.max_age())
            .map(|c| c.0.clone())
    };
    let last = cached();
    if let Some(idx) = young(&last) {
        return Ok(idx);
    }
    let _refreshing = match (st.refresh.try_lock(), &last) {
        (Ok(g), _) => g,
        (Err(_), Some((idx, _))) => return Ok(idx.clone()),
        (Err(_), None) => st.refresh.lock().await,
    };
    // Whoever held the lock may have just made a new one.
    let last = cached();
    if let Some(idx) = young(&last) {
        return Ok(idx);
    }
    let have = last.as_ref().map(|c| c.0.generation);
    let walked = ask_within(st, WALK_TIMEOUT, |tx| Query::Walk(have, tx)).await?;
    let idx = match (walked, last) {
        (None, Some((idx, _))) => idx,
        (Some(w), _) => Arc::new(
            tokio::task::spawn_blocking(move || SourceIndex::build(w))
                .await
                .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
        ),
        (None, None) => return Err(error(StatusCode::INTERNAL_SERVER_ERROR, "no index")),
    };
    *st.index.lock().expect("index lock") = Some((idx.clone(), Instant::now()));
    Ok(idx)
}

async fn list(
    State(st): State<ApiState>,
    params: Result<UrlQuery<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(UrlQuery(p)) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let f = match Filter::parse(&params) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let idx = match current_index(&st).await {
        Ok(i) => i,
        Err(r) => return r,
    };
    let page = idx.page(&f);
    match ask(&st, |tx| Query::Page(page.addrs, f, tx)).await {
        Ok(list) => {
            let next = page.next.map_or("null".into(), |a| format!("\"{a}\""));
            let body = format!(
                "{{\"total\":{},\"sources\":{list},\"next\":{next},\"as_of\":{}}}",
                page.total,
                json!(idx.as_of),
            );
            ([(header::CONTENT_TYPE, "application/json")], body).into_response()
        }
        Err(r) => r,
    }
}

async fn one(State(st): State<ApiState>, Path(addr): Path<String>) -> Response {
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{addr:?} is not an IPv4 or IPv6 address"),
        );
    };
    match ask(&st, |tx| Query::Source(ip, tx)).await {
        Ok(Some(v)) => Json(v).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("no source {ip} in the table"),
        ),
        Err(r) => r,
    }
}

async fn ready(State(st): State<ApiState>) -> Response {
    match ask(&st, Query::Ready).await {
        Ok(v) => Json(v).into_response(),
        Err(r) => r,
    }
}

async fn metrics(State(st): State<ApiState>) -> Response {
    let body = TextEncoder::new()
        .encode_to_string(&st.registry.gather())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

pub fn router(st: ApiState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/api/v1/sources", get(list))
        .route("/api/v1/sources/{addr}", get(one))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such endpoint") })
        .with_state(st)
}

/// Serves on an already bound listener until the runtime stops.
pub async fn serve(listener: std::net::TcpListener, st: ApiState) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let l = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(l, router(st)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(q: &[(&str, &str)]) -> HashMap<String, String> {
        q.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn readiness_names_interfaces_database_and_table() {
        let db = crate::analysis::fingerprint::default_database().unwrap();
        let at = Attachment {
            release: "6.1.0-57-amd64".into(),
            program: osfp_common::program::BOUNDED,
            ifaces: vec![("eth0".into(), "native"), ("eth1".into(), "skb")],
        };
        let v = readiness(&at, &db, 7, Duration::from_secs(90));
        assert_eq!(v["ready"], true);
        assert_eq!(v["interfaces"], json!(["eth0", "eth1"]));
        assert_eq!(v["xdp_modes"], json!(["native", "skb"]));
        assert_eq!(v["kernel"], "6.1.0-57-amd64");
        assert_eq!(v["program"], "osfp_bounded");
        assert_eq!(v["database"], db.name.as_str());
        assert_eq!(v["signatures"], db.sigs[0].len() + db.sigs[1].len());
        assert!(v["signatures"].as_u64().unwrap() > 100);
        assert_eq!(v["sources"], 7);
        assert_eq!(v["uptime_seconds"], 90);
    }

    #[test]
    fn filters_parse_and_bad_ones_say_why() {
        let f = Filter::parse(&params(&[
            ("family", "linux"),
            ("unknown", "false"),
            ("scanning", "true"),
            ("limit", "5"),
            ("after", "fd00::1"),
        ]))
        .unwrap();
        assert_eq!(f.family, Some(Family::Linux));
        assert_eq!(f.unknown, Some(false));
        assert_eq!(f.scanning, Some(true));
        assert_eq!(f.limit, 5);
        assert_eq!(f.after, Some("fd00::1".parse().unwrap()));
        assert_eq!(Filter::parse(&params(&[])).unwrap().limit, DEFAULT_LIMIT);
        for (q, why) in [
            (("family", "solaris"), "expected one of windows"),
            (("unknown", "yes"), "expected true or false"),
            (("limit", "0"), "expected 1 to 1000"),
            (("limit", "1001"), "expected 1 to 1000"),
            (("after", "10.0.0.300"), "not an IP address"),
            (("fmaily", "linux"), "unknown parameter \"fmaily\""),
        ] {
            let e = Filter::parse(&params(&[q])).unwrap_err();
            assert!(e.contains(why), "{q:?}: {e}");
        }
    }
}
