// Subscriptions through the graphql-ws client (graphql-transport-ws
// protocol) and the graphql-sse client (distinct connections mode) against
// the real server, with changes made by mutations sent with fetch.
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { createClient as createWSClient } from 'graphql-ws';
import { createClient as createSSEClient } from 'graphql-sse';
import WebSocket from 'ws';
import {
  firstResultWhileMutating,
  httpURL,
  logTime,
  resultAtVersion,
  startProject,
  wsURL,
} from './helpers.js';

const projectChanged = `subscription($id: ID!) {
  projectChanged(id: $id) {
    project { id version }
    event { type streamVersion position occurredAt data }
  }
}`;

const projectEvents = `subscription($id: ID) {
  projectEvents(projectId: $id) { id projectId type streamVersion position occurredAt recordedAt data }
}`;

const changeVersion = (data) => data.projectChanged.event.streamVersion;
const eventVersion = (data) => data.projectEvents.streamVersion;

/** Checks the subscriptions of one client, given a function that subscribes. */
function subscriptionTests(name, subscribe) {
  test(`${name}: projectChanged sends the mutated project`, async () => {
    const id = await startProject(`node-${name}-changed`);
    const results = subscribe({ query: projectChanged, variables: { id } });
    try {
      const first = await firstResultWhileMutating(results, id, 'first projectChanged');
      assert.equal(first.errors, undefined, JSON.stringify(first.errors));
      assert.equal(first.data.projectChanged.project.id, id);

      const version = await logTime(id, 'watched change');
      const result = await resultAtVersion(results, version - 1, changeVersion, 'projectChanged of logTime');
      const change = result.data.projectChanged;
      assert.equal(change.event.type, 'TimeLogged');
      assert.equal(change.event.streamVersion, version - 1);
      assert.equal(change.project.version, version);
      assert.match(change.event.data, /watched change/);
    } finally {
      await results.return();
    }
  });

  test(`${name}: projectEvents sends each stored event`, async () => {
    const id = await startProject(`node-${name}-events`);
    const results = subscribe({ query: projectEvents, variables: { id } });
    try {
      const first = await firstResultWhileMutating(results, id, 'first projectEvents');
      assert.equal(first.errors, undefined, JSON.stringify(first.errors));
      assert.equal(first.data.projectEvents.projectId, id);

      const versions = [];
      for (let i = 0; i < 3; i++) {
        versions.push(await logTime(id, `event ${i}`));
      }
      const firstVersion = versions[0] - 1;
      let previous = await resultAtVersion(results, firstVersion, eventVersion, 'projectEvents of logTime');
      assert.equal(eventVersion(previous.data), firstVersion);
      for (const version of versions.slice(1)) {
        const result = await resultAtVersion(results, version - 1, eventVersion, 'projectEvents of logTime');
        const event = result.data.projectEvents;
        assert.equal(event.streamVersion, version - 1, 'events arrive in stream order without gaps');
        assert.equal(event.type, 'TimeLogged');
        assert.ok(Date.parse(event.recordedAt) >= Date.parse(event.occurredAt) - 1000);
        assert.notEqual(event.position, previous.data.projectEvents.position);
        previous = result;
      }
    } finally {
      await results.return();
    }
  });
}

describe('graphql-ws client', () => {
  const client = createWSClient({ url: wsURL, webSocketImpl: WebSocket, retryAttempts: 0 });
  after(() => client.dispose());
  subscriptionTests('graphql-ws', (request) => client.iterate(request));
});

describe('graphql-sse client', () => {
  // gqlgen's SSE transport takes one operation per POST with
  // Accept: text/event-stream, which is the client's distinct connections
  // mode. The single connection mode needs a PUT reservation that gqlgen
  // does not offer.
  const client = createSSEClient({ url: httpURL, singleConnection: false, retryAttempts: 0 });
  after(() => client.dispose());
  subscriptionTests('graphql-sse', (request) => client.iterate(request));
});
