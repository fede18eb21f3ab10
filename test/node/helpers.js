// Shared helpers of the Node client tests: the server under test, GraphQL
// requests over fetch, and a small project to watch.
import assert from 'node:assert/strict';

const url = process.env.ONBOARDING_TEST_URL;
if (!url) {
  throw new Error(
    'ONBOARDING_TEST_URL is missing: set it to the /graphql URL of a running server on 127.0.0.1, ' +
      'or run these tests through "go test -run NodeClients ./cmd/onboarding"',
  );
}
const parsed = new URL(url);
if (parsed.hostname !== '127.0.0.1' && parsed.hostname !== 'localhost') {
  throw new Error(`ONBOARDING_TEST_URL ${url} is not on a loopback address; these tests only run against a local server`);
}

/** The /graphql URL over HTTP. */
export const httpURL = url;

/** The /graphql URL over WebSocket. */
export const wsURL = url.replace(/^http/, 'ws');

/** The server's WebSocket init timeout in milliseconds. */
export const initTimeoutMs = Number(process.env.ONBOARDING_TEST_INIT_TIMEOUT_MS || 10000);

/** Posts a GraphQL request with fetch and returns its data, failing on errors. */
export async function graphql(query, variables = {}) {
  const response = await fetch(httpURL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  assert.equal(response.status, 200, `POST ${httpURL} returned ${response.status}: ${JSON.stringify(body)}`);
  assert.equal(body.errors, undefined, `request failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** Starts a project with a Shopify shop and Fortnox and returns its id. */
export async function startProject(customer) {
  const data = await graphql(
    `mutation($input: StartProjectInput!) { startProject(input: $input) { project { id } } }`,
    {
      input: {
        customerId: customer,
        customerName: `${customer} AB`,
        name: `Onboarding of ${customer}`,
        estimatedHours: 10,
        systems: [
          { name: 'Shop', platform: 'SHOPIFY' },
          { name: 'Fortnox', platform: 'FORTNOX' },
        ],
      },
    },
  );
  return data.startProject.project.id;
}

/** Logs a quarter of an hour on the project and returns its new version. */
export async function logTime(projectId, description) {
  const data = await graphql(
    `mutation($id: ID!, $description: String!) {
      logTime(input: {projectId: $id, hours: 0.25, description: $description}) { project { version } }
    }`,
    { id: projectId, description },
  );
  return data.logTime.project.version;
}

/**
 * Returns an async iterator's next value, failing after ms milliseconds.
 */
export async function nextWithin(iterator, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  try {
    const result = await Promise.race([iterator.next(), timeout]);
    assert.equal(result.done, false, `${what}: the subscription ended`);
    return result.value;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Logs time on the project every 100 ms until the subscription delivers a
 * result, because a subscription is registered on the server after the
 * subscribe request returns, and a change made before that is not sent.
 * Returns the first result.
 */
export async function firstResultWhileMutating(iterator, projectId, what) {
  const pending = iterator.next();
  let received = false;
  pending.then(() => {
    received = true;
  }, () => {
    received = true;
  });
  const deadline = Date.now() + 10000;
  while (!received) {
    assert.ok(Date.now() < deadline, `no ${what} within 10 s while logging time every 100 ms`);
    await logTime(projectId, 'until subscribed');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const result = await pending;
  assert.equal(result.done, false, `${what}: the subscription ended`);
  return result.value;
}

/**
 * Returns the next result whose streamVersion is at least version,
 * skipping the events of earlier mutations.
 */
export async function resultAtVersion(iterator, version, streamVersionOf, what) {
  for (;;) {
    const result = await nextWithin(iterator, 5000, what);
    assert.equal(result.errors, undefined, `${what}: ${JSON.stringify(result.errors)}`);
    if (streamVersionOf(result.data) >= version) {
      return result;
    }
  }
}
