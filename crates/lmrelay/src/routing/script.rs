//! Custom routing scripts: an operator's [Rhai](https://rhai.rs) function `route(ctx)` that
//! orders, and may narrow, the candidates for one request.
//!
//! `ctx` is an object map: `model`, `key` (gateway key name or `()`), `protocol`, `headers`
//! (lowercase name → value, UTF-8 values only, at most 64), `estimated_tokens`,
//! `max_output_tokens` (int or `()`) and `candidates`, an array of maps with `target`
//! (`"provider/model"`), `provider`, `model`, `region`, `healthy`, `breaker`, `latency_ms`,
//! `input_price`, `output_price` and `weight` (absent values are `()`).
//!
//! `route` returns an array of strings, each `"provider/model"` or a bare provider name (that
//! provider's first candidate). The gateway tries them in that order; duplicates are dropped and
//! candidates left out are not tried. Only functions matter: top-level statements never run.
//!
//! A script that does not compile, or has no `route(ctx)`, is a config error. At run time every
//! failure — a thrown error, a broken limit, a result that is not a non-empty array of known
//! targets — is an error from [`RouteScript::order`], and the caller falls back to the
//! configured order.
//!
//! # Sandbox
//!
//! A raw engine with only the standard package: no modules, files, network or `eval`; variables
//! must be declared (typos fail at compile time). Each call is limited to
//! [`ScriptLimits::max_operations`] operations and [`ScriptLimits::time_limit`] of wall-clock
//! time, 32 nested calls, expressions nested 64 deep (32 inside functions), strings of 64 KiB,
//! and arrays and maps of 10 000 items. Once the time is up every further operation stops it,
//! even inside natives that swallow errors (`sort`'s comparator). Each call runs on a short-lived
//! thread with an 8 MiB stack, since Rhai recurses on the native stack and a script at the depth
//! limits can overflow a Tokio worker's; the caller still waits for it. `print` and `debug` go
//! to `tracing` at debug level.

use std::cell::Cell;
use std::fmt;
use std::time::{Duration, Instant};

use rhai::packages::{Package, StandardPackage};
use rhai::{Array, CallFnOptions, Dynamic, Engine, EvalAltResult, Map, Scope, AST, INT};

/// The function a script must define.
const ROUTE_FN: &str = "route";
const MAX_CALL_LEVELS: usize = 32;
const MAX_EXPR_DEPTH: usize = 64;
const MAX_FN_EXPR_DEPTH: usize = 32;
const MAX_STRING_SIZE: usize = 64 * 1024;
const MAX_ARRAY_SIZE: usize = 10_000;
const MAX_MAP_SIZE: usize = 10_000;
/// Headers beyond this many are left out of `ctx.headers`.
const MAX_HEADERS: usize = 64;
/// The clock is read once per this many operations (a power of two).
const CLOCK_CHECK_INTERVAL: u64 = 64;
/// Stack for the thread a script runs on. A debug build at the depth limits needs over 2 MiB
/// (a release build up to about 1 MiB); Tokio's workers have 2 MiB.
const SCRIPT_STACK_SIZE: usize = 8 * 1024 * 1024;

/// What one run of a script may spend.
#[derive(Debug, Clone, Copy)]
pub struct ScriptLimits {
    /// Rhai operations per call; 0 means no limit (the time limit still applies).
    pub max_operations: u64,
    /// Wall-clock time per call.
    pub time_limit: Duration,
}

impl Default for ScriptLimits {
    fn default() -> Self {
        Self {
            max_operations: 100_000,
            time_limit: Duration::from_millis(10),
        }
    }
}

/// Why a script could not be loaded or gave no usable order.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// Syntax error, undeclared variable, use of `eval`, nesting too deep (a config error).
    #[error("routing script {path} does not compile: {message}")]
    Compile { path: String, message: String },
    /// No `fn route(ctx)` (a config error).
    #[error("routing script {path} must define a function `route(ctx)` with one parameter")]
    NoRouteFunction { path: String },
    /// A thrown or run-time error, or a broken operations, call-depth or size limit.
    #[error("routing script {path} failed: {message}")]
    Runtime { path: String, message: String },
    /// Ran past [`ScriptLimits::time_limit`].
    #[error("routing script {path} ran past its time limit of {limit:?}")]
    TimedOut { path: String, limit: Duration },
    /// Not a non-empty array of this request's targets.
    #[error("routing script {path} returned an unusable result: {message}")]
    BadResult { path: String, message: String },
}

/// What a script sees of one request.
pub struct ScriptInput<'a> {
    /// The model the client asked for.
    pub model: &'a str,
    /// Gateway key name (never a secret); `None` under open access.
    pub key: Option<&'a str>,
    /// `"openai"`, `"anthropic"`, `"ollama"` or `"responses"`.
    pub protocol: &'a str,
    /// The client's headers, credentials already removed.
    pub headers: &'a http::HeaderMap,
    /// Estimated input tokens.
    pub estimated_tokens: u64,
    pub max_output_tokens: Option<u64>,
    pub candidates: &'a [ScriptCandidate<'a>],
}

/// One place the request may go, as a script sees it.
pub struct ScriptCandidate<'a> {
    pub provider: &'a str,
    /// The provider's model name.
    pub model: &'a str,
    pub region: Option<&'a str>,
    pub healthy: bool,
    /// `"closed"`, `"open"` or `"half_open"`.
    pub breaker: &'a str,
    pub latency_ms: Option<f64>,
    /// USD per million input tokens.
    pub input_price: Option<f64>,
    /// USD per million output tokens.
    pub output_price: Option<f64>,
    pub weight: u32,
}

/// A compiled routing script, ready to run for any number of requests on any thread.
pub struct RouteScript {
    path: String,
    limits: ScriptLimits,
    engine: Engine,
    ast: AST,
}

impl fmt::Debug for RouteScript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteScript")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl RouteScript {
    /// Compiles `source` (read from `path`, used in messages); requires a function `route`
    /// with one parameter.
    pub fn compile(source: &str, path: &str, limits: ScriptLimits) -> Result<Self, ScriptError> {
        let engine = sandboxed_engine(path, limits);
        let ast = engine.compile(source).map_err(|e| ScriptError::Compile {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let has_route = ast
            .iter_functions()
            .any(|f| f.name == ROUTE_FN && f.params.len() == 1);
        if !has_route {
            return Err(ScriptError::NoRouteFunction {
                path: path.to_owned(),
            });
        }
        Ok(Self {
            path: path.to_owned(),
            limits,
            engine,
            ast,
        })
    }

    /// The file the script came from.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Runs `route(ctx)`; returns indices into `input.candidates`, in the order to try them.
    /// Never empty on success.
    pub fn order(&self, input: &ScriptInput<'_>) -> Result<Vec<usize>, ScriptError> {
        let ctx = context(input);
        let result = self.on_script_thread(|| self.call_route(ctx))?;
        self.pick(result, input.candidates)
    }

    /// Runs `run` on a thread of its own with [`SCRIPT_STACK_SIZE`] of stack, waiting for it.
    /// Rhai evaluates on the native stack, and at the depth limits a script can need more
    /// than the caller's thread has; a panic there becomes an error, too.
    fn on_script_thread<T: Send>(
        &self,
        run: impl FnOnce() -> Result<T, ScriptError> + Send,
    ) -> Result<T, ScriptError> {
        // Keep the caller's subscriber and span, so `print` lands with the request's logs.
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        let span = tracing::Span::current();
        let in_context =
            move || tracing::dispatcher::with_default(&dispatch, || span.in_scope(run));
        std::thread::scope(|scope| {
            let thread = std::thread::Builder::new()
                .name("route-script".to_owned())
                .stack_size(SCRIPT_STACK_SIZE)
                .spawn_scoped(scope, in_context)
                .map_err(|e| self.runtime_error(format!("could not start its thread: {e}")))?;
            thread
                .join()
                .unwrap_or_else(|_| Err(self.runtime_error("panicked".to_owned())))
        })
    }

    fn call_route(&self, ctx: Map) -> Result<Dynamic, ScriptError> {
        let _deadline = Deadline::arm(self.limits.time_limit);
        let options = CallFnOptions::new().eval_ast(false).rewind_scope(true);
        self.engine
            .call_fn_with_options::<Dynamic>(
                options,
                &mut Scope::new(),
                &self.ast,
                ROUTE_FN,
                (Dynamic::from_map(ctx),),
            )
            .map_err(|e| self.run_error(&e))
    }

    fn run_error(&self, error: &EvalAltResult) -> ScriptError {
        let path = self.path.clone();
        match root_cause(error) {
            EvalAltResult::ErrorTerminated(..) => ScriptError::TimedOut {
                path,
                limit: self.limits.time_limit,
            },
            EvalAltResult::ErrorTooManyOperations(..) => ScriptError::Runtime {
                path,
                message: format!(
                    "ran more than its limit of {} operations",
                    self.limits.max_operations
                ),
            },
            _ => ScriptError::Runtime {
                path,
                message: error.to_string(),
            },
        }
    }

    fn runtime_error(&self, message: String) -> ScriptError {
        ScriptError::Runtime {
            path: self.path.clone(),
            message,
        }
    }

    /// Maps the script's answer onto candidate indices.
    fn pick(
        &self,
        result: Dynamic,
        candidates: &[ScriptCandidate<'_>],
    ) -> Result<Vec<usize>, ScriptError> {
        let result_type = result.type_name();
        let targets = result.try_cast::<Array>().ok_or_else(|| {
            self.bad_result(format!("expected an array of targets, got {result_type}"))
        })?;
        if targets.is_empty() {
            return Err(self.bad_result("an empty list of targets".to_owned()));
        }
        let mut chosen = vec![false; candidates.len()];
        let mut order = Vec::with_capacity(candidates.len().min(targets.len()));
        for (position, target) in targets.into_iter().enumerate() {
            let target = target.into_immutable_string().map_err(|element_type| {
                self.bad_result(format!(
                    "element {position} is {element_type}, not a target string"
                ))
            })?;
            let index = find_candidate(&target, candidates).ok_or_else(|| {
                self.bad_result(format!(
                    "{:?} is not one of this request's candidates",
                    target.as_str()
                ))
            })?;
            if !chosen[index] {
                chosen[index] = true;
                order.push(index);
            }
        }
        Ok(order)
    }

    fn bad_result(&self, message: String) -> ScriptError {
        ScriptError::BadResult {
            path: self.path.clone(),
            message,
        }
    }
}

/// An engine that can compute and nothing else, within the limits in the module doc.
fn sandboxed_engine(path: &str, limits: ScriptLimits) -> Engine {
    let mut engine = Engine::new_raw();
    engine.register_global_module(StandardPackage::new().as_shared_module());
    engine.disable_symbol("eval");
    engine.set_strict_variables(true);
    engine.set_max_operations(limits.max_operations);
    engine.set_max_call_levels(MAX_CALL_LEVELS);
    engine.set_max_expr_depths(MAX_EXPR_DEPTH, MAX_FN_EXPR_DEPTH);
    engine.set_max_string_size(MAX_STRING_SIZE);
    engine.set_max_array_size(MAX_ARRAY_SIZE);
    engine.set_max_map_size(MAX_MAP_SIZE);
    engine.on_progress(past_deadline);
    let script = path.to_owned();
    engine.on_print(move |text| tracing::debug!(script = %script, "{text}"));
    let script = path.to_owned();
    engine.on_debug(move |text, _source, position| {
        tracing::debug!(script = %script, %position, "{text}");
    });
    engine
}

/// The wall clock of the script call running on this thread.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// No call running, or a limit too far away to represent.
    Unlimited,
    /// Stop once this instant has passed.
    Until(Instant),
    /// Past the deadline: every further operation stops the script, so a native function
    /// that swallows errors (`sort` with a comparator) cannot keep it going.
    Expired,
}

thread_local! {
    static CLOCK: Cell<Clock> = const { Cell::new(Clock::Unlimited) };
}

/// Starts this thread's clock for one call; puts the previous one back when dropped.
struct Deadline {
    previous: Clock,
}

impl Deadline {
    fn arm(limit: Duration) -> Self {
        let clock = Instant::now()
            .checked_add(limit)
            .map_or(Clock::Unlimited, Clock::Until);
        Self {
            previous: CLOCK.replace(clock),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        CLOCK.set(self.previous);
    }
}

/// The engine's progress hook: `Some` stops the script.
fn past_deadline(operations: u64) -> Option<Dynamic> {
    let expired = match CLOCK.get() {
        Clock::Unlimited => false,
        Clock::Expired => true,
        Clock::Until(deadline) => {
            let check = operations & (CLOCK_CHECK_INTERVAL - 1) == 0;
            let expired = check && Instant::now() >= deadline;
            if expired {
                CLOCK.set(Clock::Expired);
            }
            expired
        }
    };
    expired.then_some(Dynamic::UNIT)
}

/// The error under any "in call to function" wrappers.
fn root_cause(mut error: &EvalAltResult) -> &EvalAltResult {
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _) = error {
        error = inner;
    }
    error
}

/// The candidate `target` names: an exact `provider/model`, else a provider's first candidate.
fn find_candidate(target: &str, candidates: &[ScriptCandidate<'_>]) -> Option<usize> {
    candidates
        .iter()
        .position(|c| is_target(target, c))
        .or_else(|| candidates.iter().position(|c| c.provider == target))
}

/// Whether `target` is `provider/model` for `candidate`, without building the string.
fn is_target(target: &str, candidate: &ScriptCandidate<'_>) -> bool {
    target
        .strip_prefix(candidate.provider)
        .and_then(|rest| rest.strip_prefix('/'))
        == Some(candidate.model)
}

/// The `ctx` map the script receives.
fn context(input: &ScriptInput<'_>) -> Map {
    let candidates: Array = input
        .candidates
        .iter()
        .map(|c| Dynamic::from_map(candidate_map(c)))
        .collect();
    let mut ctx = Map::new();
    ctx.insert("model".into(), input.model.into());
    ctx.insert("key".into(), optional(input.key, text));
    ctx.insert("protocol".into(), input.protocol.into());
    ctx.insert(
        "headers".into(),
        Dynamic::from_map(header_map(input.headers)),
    );
    ctx.insert("estimated_tokens".into(), int(input.estimated_tokens));
    ctx.insert(
        "max_output_tokens".into(),
        optional(input.max_output_tokens, int),
    );
    ctx.insert("candidates".into(), Dynamic::from_array(candidates));
    ctx
}

fn candidate_map(c: &ScriptCandidate<'_>) -> Map {
    let mut map = Map::new();
    map.insert(
        "target".into(),
        format!("{}/{}", c.provider, c.model).into(),
    );
    map.insert("provider".into(), c.provider.into());
    map.insert("model".into(), c.model.into());
    map.insert("region".into(), optional(c.region, text));
    map.insert("healthy".into(), c.healthy.into());
    map.insert("breaker".into(), c.breaker.into());
    map.insert(
        "latency_ms".into(),
        optional(c.latency_ms, Dynamic::from_float),
    );
    map.insert(
        "input_price".into(),
        optional(c.input_price, Dynamic::from_float),
    );
    map.insert(
        "output_price".into(),
        optional(c.output_price, Dynamic::from_float),
    );
    map.insert("weight".into(), int(u64::from(c.weight)));
    map
}

/// Lowercase header name → value, for the first [`MAX_HEADERS`] names with UTF-8 values (the
/// first value of a repeated header).
fn header_map(headers: &http::HeaderMap) -> Map {
    headers
        .keys()
        .filter_map(|name| {
            let value = std::str::from_utf8(headers.get(name)?.as_bytes()).ok()?;
            Some((name.as_str().into(), value.into()))
        })
        .take(MAX_HEADERS)
        .collect()
}

fn text(s: &str) -> Dynamic {
    s.into()
}

fn int(n: u64) -> Dynamic {
    Dynamic::from_int(INT::try_from(n).unwrap_or(INT::MAX))
}

/// `()` for `None`, the script's usual "absent".
fn optional<T>(value: Option<T>, to_dynamic: impl FnOnce(T) -> Dynamic) -> Dynamic {
    value.map_or(Dynamic::UNIT, to_dynamic)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/lmrelay/route.rhai";

    fn candidates() -> Vec<ScriptCandidate<'static>> {
        let c = |provider, model, region, input_price| ScriptCandidate {
            provider,
            model,
            region,
            healthy: true,
            breaker: "closed",
            latency_ms: Some(120.0),
            input_price,
            output_price: None,
            weight: 1,
        };
        vec![
            c("alpha", "a1", Some("us"), Some(3.0)),
            c("beta", "b1", Some("eu"), Some(1.0)),
            c("beta", "b2", Some("eu"), None),
            c("gamma", "g1", None, Some(2.0)),
        ]
    }

    fn run_with(source: &str, headers: &http::HeaderMap) -> Result<Vec<usize>, ScriptError> {
        let script = RouteScript::compile(source, PATH, ScriptLimits::default())?;
        let candidates = candidates();
        script.order(&ScriptInput {
            model: "chat",
            key: Some("team-a"),
            protocol: "openai",
            headers,
            estimated_tokens: 1200,
            max_output_tokens: None,
            candidates: &candidates,
        })
    }

    fn run(source: &str) -> Result<Vec<usize>, ScriptError> {
        run_with(source, &http::HeaderMap::new())
    }

    fn route_returning(expr: &str) -> String {
        format!("fn route(ctx) {{ {expr} }}")
    }

    #[test]
    fn is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<RouteScript>();
    }

    #[test]
    fn sorts_by_price_unpriced_last() {
        let source = r#"
            fn price(c) { if c.input_price == () { 1e12 } else { c.input_price } }
            fn route(ctx) {
                let cs = ctx.candidates;
                cs.sort(|a, b| {
                    let x = price(a);
                    let y = price(b);
                    if x < y { -1 } else if x > y { 1 } else { 0 }
                });
                cs.map(|c| c.target)
            }
        "#;
        assert_eq!(run(source).expect("order"), vec![1, 3, 0, 2]);
    }

    #[test]
    fn chooses_by_header() {
        let source = r#"
            fn route(ctx) {
                let cs = ctx.candidates;
                if ctx.headers["x-team"] == "legal" {
                    cs = cs.filter(|c| c.region == "eu");
                }
                cs.map(|c| c.target)
            }
        "#;
        let mut headers = http::HeaderMap::new();
        headers.insert("X-Team", http::HeaderValue::from_static("legal"));
        assert_eq!(run_with(source, &headers).expect("legal"), vec![1, 2]);
        assert_eq!(run(source).expect("no header"), vec![0, 1, 2, 3]);
    }

    #[test]
    fn sees_the_request() {
        let source = r#"
            fn route(ctx) {
                if ctx.model != "chat" || ctx.key != "team-a" || ctx.protocol != "openai"
                    || ctx.estimated_tokens != 1200 || ctx.max_output_tokens != ()
                { throw "unexpected request fields"; }
                let c = ctx.candidates[2];
                if c.target != "beta/b2" || c.provider != "beta" || c.model != "b2"
                    || c.region != "eu" || !c.healthy || c.breaker != "closed"
                    || c.latency_ms != 120.0 || c.input_price != () || c.output_price != ()
                    || c.weight != 1
                { throw "unexpected candidate fields"; }
                [c.target]
            }
        "#;
        assert_eq!(run(source).expect("order"), vec![2]);
    }

    #[test]
    fn provider_names_narrow_and_duplicates_drop() {
        let source = route_returning(r#"["beta", "beta/b1", "alpha/a1", "beta"]"#);
        assert_eq!(run(&source).expect("order"), vec![1, 0]);
        let source = route_returning(r#"["beta/b2", "gamma"]"#);
        assert_eq!(run(&source).expect("order"), vec![2, 3]);
    }

    #[test]
    fn unknown_target_is_bad_result() {
        let source = route_returning(r#"["alpha", "delta/d1"]"#);
        let err = run(&source).expect_err("unknown target");
        assert!(matches!(err, ScriptError::BadResult { .. }), "{err}");
        assert!(err.to_string().contains("delta/d1"), "{err}");
        assert!(err.to_string().contains(PATH), "{err}");
    }

    #[test]
    fn results_that_are_not_target_lists_are_bad() {
        for expr in [r#"["alpha", 42]"#, "[]", r#""alpha""#, "()"] {
            let err = run(&route_returning(expr)).expect_err(expr);
            assert!(
                matches!(err, ScriptError::BadResult { .. }),
                "{expr}: {err}"
            );
        }
    }

    #[test]
    fn throw_is_runtime_error() {
        let err = run(&route_returning(r#"throw "no route for you""#)).expect_err("throw");
        assert!(matches!(err, ScriptError::Runtime { .. }), "{err}");
        assert!(err.to_string().contains("no route for you"), "{err}");
    }

    #[test]
    fn infinite_loop_stops() {
        let err = run(&route_returning("loop {}")).expect_err("operations limit");
        assert!(
            matches!(
                err,
                ScriptError::Runtime { .. } | ScriptError::TimedOut { .. }
            ),
            "{err}"
        );
    }

    #[test]
    fn wall_clock_limit_stops_what_catch_would_hide() {
        let limits = ScriptLimits {
            max_operations: 0,
            time_limit: Duration::from_millis(20),
        };
        let source = route_returning(r#"try { loop {} } catch { } ["alpha"]"#);
        let script = RouteScript::compile(&source, PATH, limits).expect("compile");
        let err = script
            .order(&ScriptInput {
                model: "chat",
                key: None,
                protocol: "anthropic",
                headers: &http::HeaderMap::new(),
                estimated_tokens: 0,
                max_output_tokens: Some(10),
                candidates: &candidates(),
            })
            .expect_err("time limit");
        assert!(matches!(err, ScriptError::TimedOut { .. }), "{err}");
    }

    #[test]
    fn comparator_that_never_returns_times_out() {
        // `sort` swallows its comparator's errors; the expired clock must stop every call.
        let limits = ScriptLimits {
            max_operations: 0,
            time_limit: Duration::from_millis(20),
        };
        let source = route_returning(
            r#"let a = []; for i in 0..1000 { a.push(if i % 2 == 0 { i } else { "x" }); }
               a.sort(|x, y| { loop {} }); ["alpha"]"#,
        );
        let script = RouteScript::compile(&source, PATH, limits).expect("compile");
        let candidates = candidates();
        let err = script
            .order(&ScriptInput {
                model: "chat",
                key: None,
                protocol: "responses",
                headers: &http::HeaderMap::new(),
                estimated_tokens: 0,
                max_output_tokens: None,
                candidates: &candidates,
            })
            .expect_err("time limit");
        assert!(matches!(err, ScriptError::TimedOut { .. }), "{err}");
    }

    #[test]
    fn deep_recursion_fails() {
        let source = "fn down(n) { down(n + 1) } fn route(ctx) { down(0) }";
        let err = run(source).expect_err("recursion");
        assert!(matches!(err, ScriptError::Runtime { .. }), "{err}");
    }

    #[test]
    fn deep_recursion_through_nested_expressions_fails() {
        // Each call level nests expressions as deep as allowed: far more native stack per level.
        for nest in ["1 + (", "if n >= 0 { "] {
            let close = if nest == "1 + (" {
                ")"
            } else {
                " } else { 0 }"
            };
            let body = format!("{}down(n + 1){}", nest.repeat(8), close.repeat(8));
            let source = format!("fn down(n) {{ {body} }} fn route(ctx) {{ down(0) }}");
            let err = run(&source).expect_err("recursion");
            assert!(matches!(err, ScriptError::Runtime { .. }), "{err}");
        }
    }

    #[test]
    fn deep_nesting_fails_to_compile() {
        let source = route_returning(&format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000)));
        let err = run(&source).expect_err("nesting");
        assert!(matches!(err, ScriptError::Compile { .. }), "{err}");
    }

    #[test]
    fn huge_string_fails() {
        let source = route_returning(r#"let s = "x"; loop { s += s; }"#);
        let err = run(&source).expect_err("huge string");
        assert!(matches!(err, ScriptError::Runtime { .. }), "{err}");
    }

    #[test]
    fn missing_route_is_an_error() {
        for source in [
            "fn choose(ctx) { [] }",
            "fn route() { [] }",
            "fn route(a, b) { [] }",
        ] {
            let err = run(source).expect_err(source);
            assert!(matches!(err, ScriptError::NoRouteFunction { .. }), "{err}");
            assert!(err.to_string().contains(PATH), "{err}");
        }
    }

    #[test]
    fn syntax_error_names_the_path() {
        let err = run("fn route(ctx) { [ }").expect_err("syntax");
        assert!(matches!(err, ScriptError::Compile { .. }), "{err}");
        assert!(err.to_string().contains(PATH), "{err}");
    }

    #[test]
    fn undeclared_variable_fails_to_compile() {
        let err = run(&route_returning("[ctxx.candidates[0].target]")).expect_err("typo");
        assert!(matches!(err, ScriptError::Compile { .. }), "{err}");
    }

    #[test]
    fn eval_is_refused() {
        let err = run(&route_returning(r#"eval("[\"alpha\"]")"#)).expect_err("eval");
        assert!(matches!(err, ScriptError::Compile { .. }), "{err}");
        for expr in [
            r#"Fn("eval").call("[\"alpha\"]")"#,
            r#"call(Fn("eval"), "[\"alpha\"]")"#,
        ] {
            assert!(run(&route_returning(expr)).is_err(), "{expr}");
        }
    }

    #[test]
    fn print_does_not_break_routing() {
        let source = route_returning(r#"print("hello"); debug(ctx.model); ["gamma"]"#);
        assert_eq!(run(&source).expect("order"), vec![3]);
    }

    #[test]
    fn script_runs_many_times() {
        let script = RouteScript::compile(
            &route_returning(r#"["alpha"]"#),
            PATH,
            ScriptLimits::default(),
        )
        .expect("compile");
        assert_eq!(script.path(), PATH);
        let candidates = candidates();
        let headers = http::HeaderMap::new();
        let input = ScriptInput {
            model: "chat",
            key: None,
            protocol: "ollama",
            headers: &headers,
            estimated_tokens: u64::MAX,
            max_output_tokens: None,
            candidates: &candidates,
        };
        for _ in 0..3 {
            assert_eq!(script.order(&input).expect("order"), vec![0]);
        }
    }
}
