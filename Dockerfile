# syntax=docker/dockerfile:1
# The lmrelay container image: a static `lmrelay` binary on distroless/static (CA certificates,
# /etc/passwd with `nonroot`, no shell, no package manager), run as UID 65532.
#
#   docker build -t lmrelay --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse --short=12 HEAD)" .
#   docker run --rm -p 8080:8080 -e OPENAI_API_KEY -e LMRELAY_API_KEY \
#     -v "$PWD/lmrelay.toml:/etc/lmrelay/lmrelay.toml:ro" lmrelay
#
# Config: a file mounted at /etc/lmrelay/lmrelay.toml (the working directory, so `serve` finds it
# as ./lmrelay.toml), or `--config PATH` / LMRELAY_CONFIG. Without one, the built-in default:
# providers from the environment, on LMRELAY_LISTEN (set below), with LMRELAY_GATEWAY_KEYS.
# Secrets go in the environment and `${VAR}` in the file. See docs/install.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
# The commit `lmrelay --version` names (the context has no .git; crates/lmrelay/build.rs).
ARG REVISION=unknown
WORKDIR /src
# Only what `cargo build -p lmrelay` reads (.dockerignore keeps the rest out of the context).
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# A fully static binary, so the final image needs no libc:
# - glibc with `+crt-static` rather than the musl target: musl's allocator is much slower under
#   the many small allocations of a busy async server, and glibc >= 2.34 (bookworm has 2.36)
#   resolves names from /etc/hosts and DNS inside a static binary without loading NSS modules;
# - `--target` is explicit so RUSTFLAGS applies to the binary only, not to build scripts and
#   proc macros (which cannot be static);
# - TLS is rustls with ring (upstreams: bundled Mozilla roots; Redis `rediss://`: the system's
#   roots, here distroless's /etc/ssl/certs), so there is no OpenSSL to link.
# The cache mounts keep the registry and target/ between builds on one builder.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    set -eux; \
    target="$(uname -m)-unknown-linux-gnu"; \
    LMRELAY_COMMIT="$REVISION" RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --locked -p lmrelay --target "$target"; \
    install -D -m 0755 "target/$target/release/lmrelay" /out/lmrelay; \
    if readelf -d /out/lmrelay | grep -q '(NEEDED)'; then \
        echo "lmrelay is not statically linked" >&2; exit 1; \
    fi; \
    /out/lmrelay --version

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="lmrelay" \
      org.opencontainers.image.description="LLM gateway: one endpoint for OpenAI, Anthropic and Ollama clients, served by any upstream provider" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=builder /out/lmrelay /lmrelay
# Redis over TLS reads the system roots; say where they are rather than rely on probing.
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
# The address of the built-in default, and the port `lmrelay healthcheck` asks. A config file
# sets its own `listen`: keep the two on one port, or set this to match.
ENV LMRELAY_LISTEN=0.0.0.0:8080
WORKDIR /etc/lmrelay
# Numeric, so Kubernetes can check runAsNonRoot against it (distroless's `nonroot`).
USER 65532:65532
EXPOSE 8080
# No shell in the image: the binary checks itself (GET /healthz on the local listen port).
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/lmrelay", "healthcheck"]
ENTRYPOINT ["/lmrelay"]
CMD ["serve"]
