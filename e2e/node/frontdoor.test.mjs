// The official Anthropic and OpenAI Node SDKs against every model endpoint
// of a running Keeptrusts gateway, each case with its route's primary
// healthy and down (taken down through the simulator's admin API): Messages
// and Responses requests then fail over to the other provider kind through
// the gateway's translation, embeddings and completions to another
// deployment of the same model. The SDKs' own parsing judges the answers.
//
// Run by TestNodeFrontDoor in e2e/node_test.go (go test ./e2e/), which
// starts three `kt sim` processes and the gateway (the routes are in
// frontDoorConfig, e2e/frontdoor_test.go) and sets:
//   KT_GATEWAY_URL                       the gateway
//   KT_SIM_OPENAI_A_ADMIN, KT_SIM_OPENAI_B_ADMIN, KT_SIM_ANTHROPIC_ADMIN
//                                        the simulators' admin APIs
//   KT_SIM_ANTHROPIC_URL, KT_SIM_ANTHROPIC_KEY
//                                        the Anthropic simulator itself, to
//                                        compare count_tokens with
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this file through go test ./e2e/ -run TestNodeFrontDoor`);
  return v;
};
const gatewayURL = env('KT_GATEWAY_URL');
const sims = {
  'openai-a': env('KT_SIM_OPENAI_A_ADMIN'),
  'openai-b': env('KT_SIM_OPENAI_B_ADMIN'),
  anthropic: env('KT_SIM_ANTHROPIC_ADMIN'),
};

// The gateway holds the provider keys: the clients' keys are placeholders.
// No retries, so one call is one gateway request.
const anthropic = new Anthropic({ baseURL: gatewayURL, apiKey: 'unused', maxRetries: 0, timeout: 15_000 });
const openai = new OpenAI({ baseURL: `${gatewayURL}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 15_000 });
const timeout = 30_000;
const claudeModel = 'claude-sonnet-4-20250514';
const parisAnswer = 'The capital of France is Paris.';

async function admin(sim, method, path, body) {
  const resp = await fetch(sims[sim] + path, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.ok(resp.ok, `${method} ${sim} ${path}: HTTP ${resp.status}`);
  return resp.json().catch(() => null);
}

// withDown runs fn with sim's API down (connections refused), and brings
// it back up whatever fn does.
async function withDown(sim, fn) {
  await admin(sim, 'PUT', '/fault', { kind: 'down' });
  try {
    return await fn();
  } finally {
    await admin(sim, 'DELETE', '/fault');
  }
}

// cases runs fn as two subtests: the primary healthy (answered by up) and
// down (answered by down).
async function cases(t, primary, up, down, fn) {
  await t.test('primary healthy', () => fn(up));
  await t.test('primary down', () => withDown(primary, () => fn(down)));
}

const modelOf = (provider, openaiModel) => (provider === 'anthropic' ? claudeModel : openaiModel);

const weatherTool = {
  name: 'get_weather',
  description: 'Current weather for a city',
  input_schema: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
};
const weatherQuestion = { role: 'user', content: "What's the weather like in Paris today?" };
const toolResult = JSON.stringify({ temperature_c: 18, conditions: 'sunny' });

test('messages: text', { timeout }, async (t) => {
  await cases(t, 'anthropic', 'anthropic', 'openai-a', async (want) => {
    const { data: msg, response } = await anthropic.messages
      .create({ model: claudeModel, max_tokens: 256, system: 'Be brief.', messages: [{ role: 'user', content: 'What is the capital of France?' }] })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.deepEqual(msg.content.map((b) => [b.type, b.text]), [['text', parisAnswer]]);
    assert.equal(msg.model, modelOf(want, 'gpt-4o-mini'));
    assert.equal(msg.stop_reason, 'end_turn');
    assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
  });
});

test('messages: tool use round trip', { timeout }, async (t) => {
  await cases(t, 'anthropic', 'anthropic', 'openai-a', async (want) => {
    const { data: msg, response } = await anthropic.messages
      .create({ model: claudeModel, max_tokens: 256, tools: [weatherTool], messages: [weatherQuestion] })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use');
    assert.ok(use?.id, JSON.stringify(msg.content));
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, { location: 'Paris' });

    const { data: final, response: r2 } = await anthropic.messages
      .create({
        model: claudeModel,
        max_tokens: 256,
        tools: [weatherTool],
        messages: [
          weatherQuestion,
          { role: 'assistant', content: msg.content },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: toolResult }] },
        ],
      })
      .withResponse();
    assert.equal(r2.headers.get('x-keeptrusts-provider'), want);
    assert.equal(final.stop_reason, 'end_turn');
    assert.match(final.content[0].text, /sunny/);
  });
});

test('messages: stream with tool input deltas', { timeout }, async (t) => {
  await cases(t, 'anthropic', 'anthropic', 'openai-a', async (want) => {
    const stream = anthropic.messages.stream({ model: claudeModel, max_tokens: 256, tools: [weatherTool], messages: [weatherQuestion] });
    let jsonDeltas = 0;
    stream.on('inputJson', () => jsonDeltas++);
    const msg = await stream.finalMessage();
    const { response } = await stream.withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.ok(jsonDeltas > 0, 'no input_json_delta event');
    assert.equal(msg.stop_reason, 'tool_use');
    const use = msg.content.find((b) => b.type === 'tool_use');
    assert.equal(use?.name, 'get_weather');
    assert.deepEqual(use.input, { location: 'Paris' });
  });
});

test('messages: stream text', { timeout }, async (t) => {
  await cases(t, 'anthropic', 'anthropic', 'openai-a', async (want) => {
    const stream = anthropic.messages.stream({ model: claudeModel, max_tokens: 256, messages: [{ role: 'user', content: 'What is the capital of France?' }] });
    let text = '';
    let deltas = 0;
    stream.on('text', (d) => {
      text += d;
      deltas++;
    });
    const msg = await stream.finalMessage();
    const { response } = await stream.withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.equal(text, parisAnswer);
    assert.ok(deltas > 1, `text arrived in ${deltas} delta(s): not streamed`);
    assert.equal(msg.content[0].text, parisAnswer);
    assert.equal(msg.model, modelOf(want, 'gpt-4o-mini'));
    assert.equal(msg.stop_reason, 'end_turn');
  });
});

test('messages: countTokens', { timeout }, async (t) => {
  const params = { model: claudeModel, system: 'Be brief.', messages: [weatherQuestion], tools: [weatherTool] };
  const direct = new Anthropic({ baseURL: env('KT_SIM_ANTHROPIC_URL'), apiKey: env('KT_SIM_ANTHROPIC_KEY'), maxRetries: 0 });
  const exact = await direct.messages.countTokens(params);
  await t.test('primary healthy', async () => {
    const { data, response } = await anthropic.messages.countTokens(params).withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), 'anthropic');
    assert.equal(response.headers.get('x-keeptrusts-token-count'), null);
    assert.equal(data.input_tokens, exact.input_tokens);
  });
  await t.test('primary down: the estimate', () =>
    withDown('anthropic', async () => {
      const { data, response } = await anthropic.messages.countTokens(params).withResponse();
      assert.equal(response.headers.get('x-keeptrusts-token-count'), 'estimated');
      assert.ok(data.input_tokens > 0, JSON.stringify(data));
    }));
});

const responsesTool = {
  type: 'function',
  name: 'get_weather',
  description: 'Current weather for a city',
  parameters: { type: 'object', properties: { location: { type: 'string' } }, required: ['location'] },
  strict: false,
};

test('responses: text', { timeout }, async (t) => {
  await cases(t, 'openai-a', 'openai-a', 'anthropic', async (want) => {
    const { data: r, response } = await openai.responses
      .create({ model: 'gpt-4o-mini', input: 'What is the capital of France?', instructions: 'Be brief.', store: false })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.equal(r.object, 'response');
    assert.equal(r.status, 'completed');
    assert.equal(r.output_text, parisAnswer);
    assert.equal(r.model, modelOf(want, 'gpt-4o-mini'));
    assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0, JSON.stringify(r.usage));
  });
});

test('responses: function tool round trip', { timeout }, async (t) => {
  await cases(t, 'openai-a', 'openai-a', 'anthropic', async (want) => {
    const question = { role: 'user', content: "What's the weather like in Paris today?" };
    const { data: r, response } = await openai.responses
      .create({ model: 'gpt-4o-mini', input: [question], tools: [responsesTool], store: false })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    const call = r.output.find((it) => it.type === 'function_call');
    assert.ok(call?.call_id, JSON.stringify(r.output));
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { location: 'Paris' });

    const { data: final, response: r2 } = await openai.responses
      .create({
        model: 'gpt-4o-mini',
        tools: [responsesTool],
        store: false,
        input: [
          question,
          { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: 'function_call_output', call_id: call.call_id, output: toolResult },
        ],
      })
      .withResponse();
    assert.equal(r2.headers.get('x-keeptrusts-provider'), want);
    assert.match(final.output_text, /sunny/);
  });
});

test('responses: stream', { timeout }, async (t) => {
  await cases(t, 'openai-a', 'openai-a', 'anthropic', async (want) => {
    const { data: stream, response } = await openai.responses
      .create({ model: 'gpt-4o-mini', input: 'What is the capital of France?', store: false, stream: true })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    const types = [];
    let text = '';
    let completed = null;
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
      if (ev.type === 'response.completed') completed = ev.response;
    }
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    assert.ok(types.filter((x) => x === 'response.output_text.delta').length > 1, types.join(' '));
    assert.equal(text, parisAnswer);
    assert.equal(completed.status, 'completed');
    assert.equal(completed.model, modelOf(want, 'gpt-4o-mini'));
    assert.ok(completed.usage.output_tokens > 0);
  });
});

// Route gpt-4.1 is openai-a, openai-b, anthropic. A response stored while
// openai-a is down is held by openai-b: its follow-ups go there with
// openai-a up again, and fail with a 503 (not elsewhere) with openai-b down.
test('responses: previous_response_id pinned to its holder', { timeout }, async (t) => {
  const { data: first, response } = await withDown('openai-a', () =>
    openai.responses.create({ model: 'gpt-4.1', input: 'What is the capital of France?', store: true }).withResponse());
  assert.equal(response.headers.get('x-keeptrusts-provider'), 'openai-b');
  const followUp = { model: 'gpt-4.1', previous_response_id: first.id, input: 'And of Italy?', store: false };

  await t.test('follow-up goes to the holder', async () => {
    const { data, response } = await openai.responses.create(followUp).withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), 'openai-b');
    assert.match(data.output_text, /Italy/);
  });
  await t.test('streamed follow-up goes to the holder', async () => {
    const { data: stream, response } = await openai.responses.create({ ...followUp, stream: true }).withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), 'openai-b');
    let completed = null;
    for await (const ev of stream) if (ev.type === 'response.completed') completed = ev.response;
    assert.match(completed?.output_text ?? completed?.output?.[0]?.content?.[0]?.text ?? '', /Italy/);
  });
  await t.test('retrieve from the holder', async () => {
    const { data, response } = await openai.responses.retrieve(first.id).withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), 'openai-b');
    assert.equal(data.id, first.id);
    assert.equal(data.output_text, first.output_text);
  });
  await t.test('503 with the holder down', () =>
    withDown('openai-b', async () => {
      const before = await Promise.all(['openai-a', 'anthropic'].map((s) => admin(s, 'GET', '/stats')));
      await assert.rejects(openai.responses.create(followUp), (err) => {
        assert.ok(err instanceof OpenAI.APIError, `${err?.constructor?.name}: ${err}`);
        assert.equal(err.status, 503);
        assert.match(err.message, /openai-b/);
        assert.match(err.message, /cannot fail over/);
        return true;
      });
      const after = await Promise.all(['openai-a', 'anthropic'].map((s) => admin(s, 'GET', '/stats')));
      assert.deepEqual(after.map((s) => s.chat_requests), before.map((s) => s.chat_requests), 'the follow-up went to another provider');
    }));
});

test('embeddings: batch, base64 (the SDK default, decoded by it)', { timeout }, async (t) => {
  const input = [parisAnswer, 'hello', 'vectors from one model'];
  const answers = {};
  await cases(t, 'openai-a', 'openai-a', 'openai-b', async (want) => {
    const { data: r, response } = await openai.embeddings.create({ model: 'text-embedding-3-small', input }).withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.equal(r.model, 'text-embedding-3-small');
    assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
    for (const d of r.data) {
      assert.ok(Array.isArray(d.embedding) && d.embedding.length === 1536, `embedding of ${typeof d.embedding} ${d.embedding?.length}`);
      const norm = Math.sqrt(d.embedding.reduce((s, x) => s + x * x, 0));
      assert.ok(Math.abs(norm - 1) < 1e-3, `norm ${norm}`);
    }
    assert.ok(r.usage.prompt_tokens > 0);
    answers[want] = r.data.map((d) => d.embedding);
  });
  // The same model on both deployments: the same vectors, whichever answered.
  assert.deepEqual(answers['openai-b'], answers['openai-a']);
});

test('embeddings: dimensions', { timeout }, async (t) => {
  await cases(t, 'openai-a', 'openai-a', 'openai-b', async (want) => {
    const { data: r, response } = await openai.embeddings
      .create({ model: 'text-embedding-3-small', input: ['a', 'b'], dimensions: 8 })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.deepEqual(r.data.map((d) => d.embedding.length), [8, 8]);
  });
});

test('completions (legacy): text', { timeout }, async (t) => {
  await cases(t, 'openai-a', 'openai-a', 'openai-b', async (want) => {
    const { data: r, response } = await openai.completions
      .create({ model: 'gpt-3.5-turbo-instruct', prompt: 'What is the capital of France?', max_tokens: 64 })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    assert.equal(r.object, 'text_completion');
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0].text, parisAnswer);
    assert.equal(r.choices[0].finish_reason, 'stop');
    assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  });
});

test('completions (legacy): stream', { timeout }, async (t) => {
  await cases(t, 'openai-a', 'openai-a', 'openai-b', async (want) => {
    const { data: stream, response } = await openai.completions
      .create({ model: 'gpt-3.5-turbo-instruct', prompt: 'What is the capital of France?', max_tokens: 64, stream: true, stream_options: { include_usage: true } })
      .withResponse();
    assert.equal(response.headers.get('x-keeptrusts-provider'), want);
    let text = '';
    let chunks = 0;
    let finish = null;
    let usage = null;
    for await (const c of stream) {
      for (const ch of c.choices) {
        if (ch.text) {
          text += ch.text;
          chunks++;
        }
        finish = ch.finish_reason ?? finish;
      }
      if (c.usage) usage = c.usage;
    }
    assert.equal(text, parisAnswer);
    assert.ok(chunks > 1, `text arrived in ${chunks} chunk(s): not streamed`);
    assert.equal(finish, 'stop');
    assert.ok(usage?.completion_tokens > 0, JSON.stringify(usage));
  });
});
