// The official OpenAI Node SDK against a running Keeptrusts gateway whose
// answers come from an Anthropic-shaped target. The SDK's own response
// parsing, SSE reader and error classes judge whether the gateway's
// translation is what an OpenAI client expects.
//
// Run by e2e/node_test.go (go test ./e2e/), which starts the simulator and
// the gateway and sets KT_GATEWAY_URL; by hand:
//   KT_GATEWAY_URL=http://127.0.0.1:41002 node --test e2e/node/sdk.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

const gatewayURL = process.env.KT_GATEWAY_URL;
if (!gatewayURL) {
  throw new Error('KT_GATEWAY_URL is not set (e.g. http://127.0.0.1:41002)');
}
// What the gateway under test answers with; the defaults match the
// tutorial's fallback.
const wantProvider = process.env.KT_EXPECT_PROVIDER || 'anthropic-fallback';
const wantModel = process.env.KT_EXPECT_MODEL || 'claude-sonnet-4-20250514';

// The gateway holds the provider keys: the client's key is a placeholder.
// No retries, so one call is one gateway request.
const client = new OpenAI({ baseURL: `${gatewayURL}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 10_000 });
const timeout = 15_000;

const capital = [{ role: 'user', content: 'What is the capital of France?' }];
const weatherTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  },
};

test('chat completion', { timeout }, async () => {
  const resp = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: capital });
  assert.equal(resp.object, 'chat.completion');
  assert.equal(resp.model, wantModel);
  assert.equal(resp.choices.length, 1);
  const [choice] = resp.choices;
  assert.equal(choice.message.role, 'assistant');
  assert.match(choice.message.content, /Paris/);
  assert.equal(choice.finish_reason, 'stop');
  assert.ok(resp.usage.prompt_tokens > 0 && resp.usage.completion_tokens > 0, JSON.stringify(resp.usage));
  assert.equal(resp.usage.total_tokens, resp.usage.prompt_tokens + resp.usage.completion_tokens);
  // The SDK keeps fields it does not know; keeptrusts_metadata is one.
  assert.equal(resp.keeptrusts_metadata?.provider, wantProvider, JSON.stringify(resp.keeptrusts_metadata));
});

test('streaming chat completion', { timeout }, async () => {
  const { data: stream, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: capital, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  assert.equal(response.headers.get('x-keeptrusts-provider'), wantProvider);
  let content = '';
  let contentChunks = 0;
  let finish = null;
  let usage = null;
  // The SDK ends the iteration at data: [DONE]; a stream cut short or an
  // in-band error event throws here instead.
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, wantModel);
    for (const c of chunk.choices) {
      if (c.delta.content) {
        content += c.delta.content;
        contentChunks++;
      }
      finish = c.finish_reason ?? finish;
    }
    if (chunk.usage) {
      assert.equal(chunk.choices.length, 0, 'the usage chunk carries no choices');
      usage = chunk.usage;
    }
  }
  assert.match(content, /Paris/);
  assert.ok(contentChunks > 1, `content arrived in ${contentChunks} chunk(s): not streamed`);
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.prompt_tokens > 0 && usage.completion_tokens > 0, `usage ${JSON.stringify(usage)}`);
});

test('tool call round trip', { timeout }, async (t) => {
  const messages = [{ role: 'user', content: "What's the weather like in Paris today?" }];

  // Streamed first: the tool call's arguments arrive in pieces and are
  // put together as a client does, by tool call index.
  const calls = [];
  let finish = null;
  let text = '';
  const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weatherTool], stream: true });
  for await (const chunk of stream) {
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      for (const d of c.delta.tool_calls ?? []) {
        calls[d.index] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
        const call = calls[d.index];
        if (d.id) call.id = d.id;
        if (d.function?.name) call.function.name += d.function.name;
        if (d.function?.arguments) call.function.arguments += d.function.arguments;
      }
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(finish, 'tool_calls');
  assert.equal(calls.length, 1, JSON.stringify(calls));
  assert.equal(calls[0].function.name, 'get_weather');
  assert.ok(calls[0].id, 'tool call id');
  assert.deepEqual(JSON.parse(calls[0].function.arguments), { location: 'Paris' });

  // The same question unstreamed must give the same call.
  const resp = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weatherTool] });
  const [choice] = resp.choices;
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.tool_calls?.length, 1, JSON.stringify(choice.message));
  const [call] = choice.message.tool_calls;
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { location: 'Paris' });
  assert.equal(call.id, calls[0].id, 'the streamed and the whole answer name the same call');

  await t.test('tool result gets a text answer', async () => {
    const followUp = [
      ...messages,
      { role: 'assistant', content: text || null, tool_calls: calls },
      { role: 'tool', tool_call_id: calls[0].id, content: JSON.stringify({ temperature_c: 18, conditions: 'sunny' }) },
    ];
    const final = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: followUp, tools: [weatherTool] });
    const [c] = final.choices;
    assert.equal(c.finish_reason, 'stop');
    assert.ok(!c.message.tool_calls?.length, 'no further tool call');
    // The simulated model quotes the tool result: it reached the target.
    assert.match(c.message.content, /sunny/);
  });
});

test('n: 2 on a failover to a one-choice target is answered with two choices', { timeout }, async () => {
  // The primary is down: Anthropic returns one choice per call, so the
  // gateway fans out two calls and merges them (failover.fan_out_n).
  const resp = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: capital, n: 2 });
  assert.equal(resp.choices.length, 2);
  assert.deepEqual(resp.choices.map((c) => c.index), [0, 1]);
  for (const c of resp.choices) assert.match(c.message.content, /Paris/);
});

test('a request the target cannot express is a 400 naming the field', { timeout }, async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: capital, top_p: 1.5 }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 400);
      assert.equal(err.type, 'invalid_request_error');
      assert.equal(err.param, 'top_p');
      assert.ok(err.message, 'message');
      return true;
    },
  );
});
