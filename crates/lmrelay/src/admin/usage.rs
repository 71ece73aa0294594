//! `GET /admin/usage`: requests, tokens and cost per gateway key, provider and model, for a
//! day (`period=YYYY-MM-DD`) or a month (`period=YYYY-MM`, the default: this month),
//! optionally filtered by `key`, `provider` and `model`.

use super::{error, runtime, store_error};
use crate::limits::NANOS_PER_USD;
use crate::outcome::SEP;
use crate::server::AppState;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    key: Option<String>,
    provider: Option<String>,
    model: Option<String>,
    period: Option<String>,
}

#[derive(Default, Clone, Copy)]
struct Row {
    requests: i64,
    input: i64,
    output: i64,
    cached: i64,
    cost_nano: i64,
}

pub async fn report(
    State(st): State<AppState>,
    query: Result<Query<UsageQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "Unknown query parameter; use key, provider, model and period.",
            None,
        );
    };
    let period = q
        .period
        .clone()
        .unwrap_or_else(|| crate::limits::month(crate::now_ms()));
    if !valid_period(&period) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`period` is a month (YYYY-MM) or a day (YYYY-MM-DD).",
            Some("period"),
        );
    }
    let rt = runtime(&st);
    let counters = match rt
        .live
        .store
        .scan_counters(&format!("usage:{period}"))
        .await
    {
        Ok(c) => c,
        Err(e) => return store_error(e),
    };
    let mut rows: BTreeMap<(String, String, String), Row> = BTreeMap::new();
    for (name, value) in counters {
        // usage:{day}:{key}␟{provider}␟{model}:{field}
        let Some(rest) = name.strip_prefix("usage:").and_then(|r| r.get(11..)) else {
            continue;
        };
        let Some((who, field)) = rest.rsplit_once(':') else {
            continue;
        };
        let mut parts = who.split(SEP);
        let (Some(key), Some(provider), Some(model)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let wanted = |f: &Option<String>, v: &str| f.as_deref().is_none_or(|f| f == v);
        if !(wanted(&q.key, key) && wanted(&q.provider, provider) && wanted(&q.model, model)) {
            continue;
        }
        let row = rows
            .entry((key.to_owned(), provider.to_owned(), model.to_owned()))
            .or_default();
        match field {
            "requests" => row.requests += value,
            "input" => row.input += value,
            "output" => row.output += value,
            "cached" => row.cached += value,
            "cost_nano" => row.cost_nano += value,
            _ => {}
        }
    }
    let mut total = Row::default();
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|((key, provider, model), r)| {
            total.requests += r.requests;
            total.input += r.input;
            total.output += r.output;
            total.cached += r.cached;
            total.cost_nano += r.cost_nano;
            let mut v = row_json(r);
            v["key"] = key.into();
            v["provider"] = provider.into();
            v["model"] = model.into();
            v
        })
        .collect();
    axum::Json(json!({"period": period, "rows": rows, "total": row_json(total)})).into_response()
}

fn row_json(r: Row) -> serde_json::Value {
    json!({
        "requests": r.requests,
        "input_tokens": r.input,
        "output_tokens": r.output,
        "cached_tokens": r.cached,
        "cost_usd": r.cost_nano as f64 / NANOS_PER_USD,
    })
}

fn valid_period(p: &str) -> bool {
    let b = p.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    }
}
