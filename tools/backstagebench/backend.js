// A minimal Backstage backend: the default core services of @backstage/backend-defaults and
// the catalog plugin, nothing else. The catalog reads the synthetic entities from the file
// Locations of app-config.yaml (the harness writes the list into app-config.locations.yaml).
// run.sh starts it; see the "Catalog against Backstage" section of docs/BENCHMARKS.md.
const { createBackend } = require('@backstage/backend-defaults');

const backend = createBackend();
backend.add(import('@backstage/plugin-catalog-backend'));
backend.start();
