# The reference node: `marp node --config /etc/marp/node.yaml`.
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts
COPY tsconfig.json ./
COPY schemas ./schemas
COPY dist ./dist
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
