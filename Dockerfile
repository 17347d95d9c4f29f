# The Orchard console image: pages, tRPC and the agent protocol on one port.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NEXT_TELEMETRY_DISABLED=1
COPY package.json package-lock.json ./
COPY prisma ./prisma
COPY prisma.config.ts ./
COPY server/db/migration-adapter.ts ./server/db/migration-adapter.ts
RUN npm ci
COPY . .
RUN npx next build
# Release sources of the ostree kind are read with the real ostree command
# (metadata-only pulls into the data folder); gpg lets it verify GPG keys.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ostree gpg ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production \
    PORT=3000 \
    ORCHARD_AUTO_BUILD=false \
    ORCHARD_DEMO_AGENTS=0 \
    ORCHARD_DATA_DIR=/var/lib/orchard
# The folders docker-compose.yml mounts its volumes on: the consoles' data
# (release sources' work folders) and the simulated agents' state. Made here,
# the user node's, because Docker makes a volume's missing mount point as root
# and copies the image folder's owner into a new volume.
RUN mkdir -p /var/lib/orchard /var/lib/orchard-fleet \
 && chown node:node /var/lib/orchard /var/lib/orchard-fleet
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=5 \
  CMD node -e "fetch('http://127.0.0.1:3000/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "server/main.ts"]
