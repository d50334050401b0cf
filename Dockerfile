# swarm-warden's image: the compiled controller on the current Node LTS, production dependencies only,
# with git for git sources. Least privilege (docs/operator-guide.md, "The image and its privileges"): it runs
# as the unprivileged user 10001; the stack adds the docker socket's group. Only for spec.volumes must it
# run as root, and then with every capability dropped except CHOWN, FOWNER and DAC_OVERRIDE.
#
# BASE selects the base image (any Debian-like image with node, and git or apt-get), so that the image
# builds where only some registries are reachable:
#   docker build --build-arg BASE=node:26-slim -t swarm-warden .
# The build stage compiles unless the context holds prebuilt/{dist,node_modules} (an offline build:
# `npm ci --omit=dev` and `npm run build` done outside, see test/integration/image.test.ts).
#
# VERSION and REVISION say which warden the image holds, in its OCI labels and in `warden --version`.
# The context has no .git, so the commit comes from the builder (docs/operations.md, step 1):
#   docker build --build-arg VERSION=$(npm pkg get version | tr -d '"') --build-arg REVISION=$(git rev-parse HEAD) .
# VERSION must be package.json's (the build fails otherwise, so that the label never says another);
# without REVISION, a prebuilt dist/build-info.json is kept, else the revision is "unknown".
ARG BASE=node:26-slim

FROM ${BASE} AS build
ARG VERSION=""
ARG REVISION=""
WORKDIR /src
# .dockerignore keeps node_modules, dist, tests and git history out of the context.
COPY . .
RUN package=$(node -p 'require("./package.json").version') \
    && if [ -n "$VERSION" ] && [ "$VERSION" != "$package" ]; then \
      echo "VERSION=$VERSION but package.json says $package: build the version the context holds" >&2; exit 1 ; \
    fi \
    && if [ -d prebuilt/dist ] && [ -d prebuilt/node_modules ]; then \
      rm -rf dist node_modules && mv prebuilt/dist prebuilt/node_modules . ; \
    else \
      npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev --no-audit --no-fund ; \
    fi \
    && if [ -n "$REVISION" ] || [ ! -f dist/build-info.json ]; then \
      WARDEN_REVISION="$REVISION" node scripts/build-info.mjs ; \
    fi

FROM ${BASE}
# git for git sources; an offline base brings its own, so apt-get runs only when git is missing.
RUN if ! command -v git >/dev/null 2>&1; then \
      apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/* ; \
    fi \
    && echo 'warden:x:10001:10001:swarm-warden:/var/cache/warden:/usr/sbin/nologin' >> /etc/passwd \
    && echo 'warden:x:10001:' >> /etc/group \
    && mkdir -p /var/cache/warden && chown 10001:10001 /var/cache/warden
WORKDIR /app
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/package.json ./
COPY --from=build /src/bin ./bin
ENV NODE_ENV=production WARDEN_LISTEN=:9095 HOME=/var/cache/warden
# A young generation of at most 1 MiB per semi-space (V8's default is 16): at 1,000 services it keeps
# the resident memory under 100 MB instead of peaks of 130 MB, for about 8 ms more CPU per pass
# (docs/performance.md, "Idle footprint"). The stack may set NODE_OPTIONS to something else;
# bench/pass-cost.ts runs warden with these same flags.
ENV NODE_OPTIONS=--max-semi-space-size=1
USER 10001:10001
EXPOSE 9095
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s CMD ["node", "-e", "fetch('http://127.0.0.1:9095/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/warden.js"]
CMD ["run"]
# Last, so that a new revision rebuilds no layer above. SOURCE is where the code lives (a repository URL).
ARG VERSION=""
ARG REVISION=""
ARG SOURCE=""
LABEL org.opencontainers.image.title="swarm-warden" \
      org.opencontainers.image.description="A Kubernetes-style reconciliation controller for Docker Swarm" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}"
