# One image for every shardcache program (storage node, proxy, control plane, shardctl);
# compose.yaml picks the program with its command, e.g. ["node", "dist/proxy/main.js", ...].
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Like .ci/run: npm ci, or npm install when the lockfile lacks an optional platform package.
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY shared shared
COPY storage-node storage-node
COPY proxy proxy
COPY control-plane control-plane
COPY client client
COPY bench bench
COPY scripts scripts
RUN npm run build && npm prune --omit=dev

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
# Every program stops cleanly on SIGTERM (docker stop, docker compose restart).
STOPSIGNAL SIGTERM
CMD ["node", "dist/control-plane/cli/shardctl.js", "--help"]
