// Close codes of the graphql-transport-ws protocol (PROTOCOL.md of
// github.com/enisdenjo/graphql-ws) for clients that break it, seen by a
// plain WebSocket client from the ws package.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket from 'ws';
import { initTimeoutMs, startProject, wsURL } from './helpers.js';

/** Opens a graphql-transport-ws socket and resolves once it is open. */
function open() {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(wsURL, 'graphql-transport-ws');
    const messages = [];
    socket.on('message', (data) => messages.push(JSON.parse(data.toString())));
    socket.closed = new Promise((resolveClose) => {
      socket.on('close', (code, reason) => resolveClose({ code, reason: reason.toString(), at: Date.now() }));
    });
    socket.messages = messages;
    socket.once('open', () => {
      assert.equal(socket.protocol, 'graphql-transport-ws');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Waits for the server to close the socket, failing after ms milliseconds. */
async function closedWithin(socket, ms) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([socket.closed, timeout]);
  } finally {
    clearTimeout(timer);
    socket.terminate();
  }
}

/** Sends connection_init and waits for connection_ack. */
async function init(socket) {
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  const deadline = Date.now() + 5000;
  while (!socket.messages.some((m) => m.type === 'connection_ack')) {
    assert.ok(Date.now() < deadline, `no connection_ack within 5 s, messages: ${JSON.stringify(socket.messages)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const watch = (id) => ({
  query: 'subscription($id: ID!) { projectChanged(id: $id) { project { version } } }',
  variables: { id },
});

test('subscribe before connection_init closes with 4401', async () => {
  const socket = await open();
  socket.send(JSON.stringify({ id: '1', type: 'subscribe', payload: watch('any') }));
  const closed = await closedWithin(socket, 5000);
  assert.equal(closed.code, 4401);
  assert.equal(closed.reason, 'Unauthorized');
});

test('second connection_init closes with 4429', async () => {
  const socket = await open();
  await init(socket);
  socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  const closed = await closedWithin(socket, 5000);
  assert.equal(closed.code, 4429);
  assert.equal(closed.reason, 'Too many initialisation requests');
});

test('duplicate subscription id closes with 4409', async () => {
  const id = await startProject('node-duplicate-id');
  const socket = await open();
  await init(socket);
  socket.send(JSON.stringify({ id: 'watch', type: 'subscribe', payload: watch(id) }));
  socket.send(JSON.stringify({ id: 'watch', type: 'subscribe', payload: watch(id) }));
  const closed = await closedWithin(socket, 5000);
  assert.equal(closed.code, 4409);
  assert.equal(closed.reason, 'Subscriber for watch already exists');
});

test('subscription id is free again after complete', async () => {
  const id = await startProject('node-reused-id');
  const socket = await open();
  await init(socket);
  socket.send(JSON.stringify({ id: 'watch', type: 'subscribe', payload: watch(id) }));
  socket.send(JSON.stringify({ id: 'watch', type: 'complete' }));
  socket.send(JSON.stringify({ id: 'watch', type: 'subscribe', payload: watch(id) }));
  socket.send(JSON.stringify({ type: 'ping' }));
  const deadline = Date.now() + 5000;
  while (!socket.messages.some((m) => m.type === 'pong')) {
    assert.ok(Date.now() < deadline, `no pong within 5 s, messages: ${JSON.stringify(socket.messages)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(socket.readyState, WebSocket.OPEN);
  socket.close(1000);
});

test('connection_init timeout closes with 4408', async () => {
  const socket = await open();
  const openedAt = Date.now();
  const closed = await closedWithin(socket, initTimeoutMs + 5000);
  assert.equal(closed.code, 4408);
  assert.equal(closed.reason, 'Connection initialisation timeout');
  assert.ok(closed.at - openedAt >= initTimeoutMs - 50, `closed after ${closed.at - openedAt} ms, timeout is ${initTimeoutMs} ms`);
});

test('ping before connection_init gets pong', async () => {
  const socket = await open();
  socket.send(JSON.stringify({ type: 'ping' }));
  const deadline = Date.now() + 5000;
  while (!socket.messages.some((m) => m.type === 'pong')) {
    assert.ok(Date.now() < deadline, `no pong within 5 s, messages: ${JSON.stringify(socket.messages)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  await init(socket);
  socket.close(1000);
});

const invalidMessages = [
  ['text that is not JSON', 'not json', false],
  ['a message without type', JSON.stringify({ id: '1' }), false],
  ['an unknown type', JSON.stringify({ type: 'start', id: '1', payload: {} }), false],
  ['a server message type', JSON.stringify({ type: 'next', id: '1', payload: {} }), true],
  ['subscribe without id', JSON.stringify({ type: 'subscribe', payload: { query: '{ platforms { id } }' } }), true],
  ['subscribe without payload', JSON.stringify({ type: 'subscribe', id: '1' }), true],
];

for (const [name, message, afterInit] of invalidMessages) {
  test(`${name}${afterInit ? ' after connection_init' : ''} closes with 4400`, async () => {
    const socket = await open();
    if (afterInit) {
      await init(socket);
    }
    socket.send(message);
    const closed = await closedWithin(socket, 5000);
    assert.equal(closed.code, 4400);
    assert.match(closed.reason, /^Invalid message received/);
  });
}

test('invalid message after connection_init closes with 4400', async () => {
  const socket = await open();
  await init(socket);
  socket.send('{"type": ');
  const closed = await closedWithin(socket, 5000);
  assert.equal(closed.code, 4400);
});
