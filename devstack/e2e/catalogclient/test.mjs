// Backstage's own @backstage/catalog-client (pinned in package.json) against Atrium's
// /api/catalog through the gateway. Run by TestBackstageCatalogClient, which sets
// ATRIUM_URL, ATRIUM_TOKEN, ATRIUM_TENANT and ATRIUM_LOCATION (a registered target).
import { CatalogClient } from '@backstage/catalog-client';
import assert from 'node:assert/strict';

const base = process.env.ATRIUM_URL;
const token = process.env.ATRIUM_TOKEN;
const tenant = process.env.ATRIUM_TENANT;
const location = process.env.ATRIUM_LOCATION;
const client = new CatalogClient({
  discoveryApi: { getBaseUrl: async () => `${base}/api/catalog` },
  fetchApi: {
    fetch: (url, init = {}) =>
      fetch(url, { ...init, headers: { ...(init.headers ?? {}), 'Atrium-Tenant': tenant } }),
  },
});
const opts = { token };

const checks = {
  async getEntities() {
    const { items } = await client.getEntities({ filter: { kind: 'component' }, fields: ['metadata.name'] }, opts);
    assert.ok(items.length >= 2);
  },
  async getEntityByRef() {
    const e = await client.getEntityByRef('component:default/svc-a', opts);
    assert.equal(e?.metadata.name, 'svc-a');
    assert.equal(await client.getEntityByRef('component:default/nope', opts), undefined);
  },
  async getEntitiesByRefs() {
    const { items } = await client.getEntitiesByRefs(
      { entityRefs: ['component:default/svc-a', 'component:svc-a', 'component:default/missing'], filter: { kind: 'component' } }, opts);
    assert.deepEqual(items.map(i => i?.metadata.name ?? null), ['svc-a', null, null]);
  },
  async queryEntities() {
    const page = await client.queryEntities(
      { filter: { kind: 'component' }, orderFields: { field: 'metadata.name', order: 'asc' }, limit: 1 }, opts);
    assert.equal(page.items.length, 1);
    assert.ok(page.totalItems >= 2);
    assert.ok(page.pageInfo.nextCursor);
    const next = await client.queryEntities({ cursor: page.pageInfo.nextCursor, limit: 1 }, opts);
    assert.equal(next.items.length, 1);
    assert.notEqual(next.items[0].metadata.name, page.items[0].metadata.name);
  },
  async queryEntitiesFullText() {
    const page = await client.queryEntities(
      { fullTextFilter: { term: 'svc-a', fields: ['metadata.name'] } }, opts);
    assert.deepEqual(page.items.map(e => e.metadata.name), ['svc-a']);
  },
  async getEntityFacets() {
    const { facets } = await client.getEntityFacets({ facets: ['kind'] }, opts);
    assert.ok(facets.kind.some(f => f.value === 'Component'));
  },
  async getLocations() {
    const { items } = await client.getLocations({}, opts);
    assert.ok(items.some(l => l.target === location));
  },
  async getLocationByRef() {
    const l = await client.getLocationByRef(`url:${location}`, opts);
    assert.equal(l?.target, location);
    const byId = await client.getLocationById(l.id, opts);
    assert.equal(byId?.target, location);
  },
  async getLocationByEntity() {
    const l = await client.getLocationByEntity('component:default/svc-a', opts);
    assert.equal(l?.target, location);
  },
  async addLocationErrors() {
    await assert.rejects(client.addLocation({ type: 'url', target: location }, opts), /409/);
    await assert.rejects(client.addLocation({ type: 'file', target: '/etc/passwd' }, opts), /400/);
  },
  async getEntityAncestors() {
    const a = await client.getEntityAncestors({ entityRef: 'component:default/svc-a' }, opts);
    assert.equal(a.rootEntityRef, 'component:default/svc-a');
    assert.equal(a.items.length, 2);
  },
  async validateEntity() {
    const ok = await client.validateEntity(
      { apiVersion: 'backstage.io/v1alpha1', kind: 'Component', metadata: { name: 'x' }, spec: { type: 'service', lifecycle: 'production', owner: 'me' } },
      `url:${location}`, opts);
    assert.equal(ok.valid, true);
    const bad = await client.validateEntity(
      { apiVersion: 'backstage.io/v1alpha1', kind: 'Widget', metadata: { name: 'x' }, spec: {} }, `url:${location}`, opts);
    assert.equal(bad.valid, false);
    assert.match(bad.errors[0].message, /No processor recognized/);
  },
  async refreshEntity() {
    await client.refreshEntity('component:default/svc-a', opts);
  },
  async removeEntityByUid() {
    const e = await client.getEntityByRef('component:default/svc-b', opts);
    await client.removeEntityByUid(e.metadata.uid, opts);
    assert.equal(await client.getEntityByRef('component:default/svc-b', opts), undefined);
  },
};

let passed = 0, failed = 0;
for (const [name, check] of Object.entries(checks)) {
  try {
    await check();
    passed++;
    console.log(`ok ${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${name}: ${err?.stack ?? err}`);
  }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
