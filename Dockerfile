# syntax=docker/dockerfile:1
# Baithak: a multi-stage build. The builder compiles the release binary (templates, fonts,
# the web chat page and the database migrations are compiled into it); the runtime image holds
# the binary, the content it reads at run time and nothing else, and runs as a non-root user.
#
#   docker build -t baithak .
#   docker run --rm -p 8080:8080 -e BAITHAK_DATABASE_URL=postgres://… baithak
#
# See docs/deploy.md.

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# Everything the crate needs to compile: the manifest and lock file, the sources, and what
# `include_bytes!`, askama and `sqlx::migrate!` read at compile time.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY templates ./templates
COPY assets ./assets
COPY migrations ./migrations
# (Content and tests/fixtures are only `include_str!`ed by unit tests, not needed here.)
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin baithak \
    && cp target/release/baithak /usr/local/bin/baithak

FROM debian:bookworm-slim AS runtime
# ca-certificates: the Bot API and the Graph API are reached over HTTPS (reqwest's rustls
# carries its own roots; the system bundle is there for anything else, e.g. a local Bot API
# server behind a private CA).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 baithak \
    && useradd --system --uid 10001 --gid baithak --home-dir /srv/baithak --shell /usr/sbin/nologin baithak

WORKDIR /srv/baithak
COPY --from=builder /usr/local/bin/baithak /usr/local/bin/baithak
# The content `baithak serve` reads (and re-reads when it changes) at run time: the dialogues,
# the knowledge base, the programme calendar/reminders/pathways, the helpdesk rules and the
# experts' canned replies. Mount a volume over these to edit content without rebuilding.
COPY --chown=root:root dialogues ./dialogues
COPY --chown=root:root knowledge-base ./knowledge-base
COPY --chown=root:root programme ./programme
COPY --chown=root:root helpdesk.yaml canned-replies.yaml ./

ENV BAITHAK_CONTENT=/srv/baithak \
    BAITHAK_LISTEN=0.0.0.0:8080 \
    BAITHAK_LOG_FORMAT=json \
    BAITHAK_LOG=info

USER baithak:baithak
EXPOSE 8080

# Liveness only (/healthz never touches the database); the proxy uses /readyz.
# The slim image has no curl: bash's /dev/tcp is enough for one GET.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${BAITHAK_LISTEN##*:} && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n1 <&3 | grep -q ' 200 '"]

ENTRYPOINT ["/usr/local/bin/baithak"]
CMD ["serve"]
