#!/usr/bin/env node
// A private Sigstore deployment for slsacheck's keyless tests: Fulcio, Rekor v1 and an
// RFC 3161 TSA from @sigstore/mock, and a Rekor v2 log written here, served over real HTTP
// on 127.0.0.1 only.
//
// usage: node mock_sigstore.js PORT OUTDIR
//   PORT 0 lets the OS choose; the first stdout line is always `port <N>`, the last
//   line before serving is `ready <base-url>`, written after OUTDIR holds:
//     trusted_root.json       Sigstore TrustedRoot (Fulcio CA, Rekor v1 and v2 keys, CT log
//                             key, TSA chain)
//     signing_config.json     Sigstore SigningConfig v0.2 (Fulcio, Rekor v1, TSA URLs)
//     trust_config.json       ClientTrustConfig = both of the above (sigstore-python --trust-config)
//     signing_config_v2.json  the SigningConfig cosign 3 uses: Fulcio, Rekor v2, TSA
//     trust_config_v2.json    ClientTrustConfig with that signing config
// Rekor v2 (POST /api/v2/log/entries) is this file's own: @sigstore/mock's v2 handler logs
// the request (with Buffers serialised as {"type":"Buffer"}) rather than a v2 entry body and
// proves a random index in a tree of one. Here the log keeps every entry in an RFC 6962
// Merkle tree, answers with the TransparencyLogEntry (no integrated time, no SET: v2 logs
// integrate synchronously) whose inclusion proof ends at a checkpoint signed as a C2SP
// signed note by the v2 log key.
// Every start makes new keys. Runs until killed. MOCK_SIGSTORE_CERT_SECONDS (default 600)
// sets how long Fulcio certificates stay valid from the time they are issued.
//
// The mock's handlers are written for sigstore-js; real clients (sigstore-python) speak the
// services' real wire formats. The adapters below translate those, so that one server
// accepts both clients. Nothing here checks an OIDC token signature: the mock trusts the
// token's claims (sub -> SAN URI, iss -> issuer extension).
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const mock = require('@sigstore/mock');

// pkijs is what the mock itself builds TSA responses with; take the same copy.
const fromMock = (name) => require(require.resolve(name, { paths: [require.resolve('@sigstore/mock')] }));
const pkijs = fromMock('pkijs');

const FULCIO_PATH = '/api/v2/signingCert';
const REKOR_ENTRIES_PATH = '/api/v1/log/entries';
const REKOR_V2_ENTRIES_PATH = '/api/v2/log/entries';
const TSA_PATH = '/api/v1/timestamp';

const port = Number(process.argv[2] || 0);
const outDir = process.argv[3] || '.';
const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const newKeyPair = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
// Keys count as valid from an hour ago, so that clock skew between processes never matters.
const validFrom = new Date(Date.now() - 3600 * 1000).toISOString();

function trustedRoot(base, { ca, ctlog, tlog, tsa, logV2 }) {
  const key = (raw) => ({ rawBytes: b64(raw), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validFrom } });
  const sha256 = (raw) => crypto.createHash('sha256').update(raw).digest();
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      { baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: key(tlog.publicKey), logId: { keyId: b64(sha256(tlog.publicKey)) } },
      // Rekor v2 names its log by the checkpoint key id, as its trusted-root entries do.
      {
        baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: key(logV2.publicKeyDer),
        logId: { keyId: b64(logV2.keyId) }, checkpointKeyId: { keyId: b64(logV2.keyId) },
      },
    ],
    certificateAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'sigstore' },
      uri: base,
      certChain: { certificates: [{ rawBytes: b64(ca.rootCertificate) }] },
      validFor: { start: validFrom },
    }],
    ctlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: key(ctlog.publicKey), logId: { keyId: b64(ctlog.logID) } }],
    timestampAuthorities: [{
      subject: { organization: 'sigstore.mock', commonName: 'tsa' },
      uri: base + TSA_PATH,
      certChain: { certificates: [{ rawBytes: b64(tsa.intCertificate) }, { rawBytes: b64(tsa.rootCertificate) }] },
      validFor: { start: validFrom },
    }],
  };
}

function signingConfig(base, rekorVersion = 1) {
  const service = (url, majorApiVersion = 1) => ({ url, majorApiVersion, operator: 'slsacheck-tests', validFor: { start: validFrom } });
  return {
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [service(base)],
    oidcUrls: [],
    rekorTlogUrls: [service(base, rekorVersion)],
    tsaUrls: [service(base + TSA_PATH)],
    rekorTlogConfig: { selector: 'ANY' },
    tsaConfig: { selector: 'ANY' },
  };
}

// Real Fulcio takes the OIDC token as `Authorization: Bearer` and the CSR as base64(PEM);
// the mock handler reads the token from the body and wants PEM text.
function adaptFulcio(body, headers) {
  const request = JSON.parse(body.toString());
  const auth = headers.authorization || '';
  if (!request.credentials && auth.startsWith('Bearer ')) request.credentials = { oidcIdentityToken: auth.slice(7) };
  const csr = request.certificateSigningRequest;
  if (csr && !csr.startsWith('-----')) request.certificateSigningRequest = Buffer.from(csr, 'base64').toString();
  return JSON.stringify(request);
}

// Real Rekor v1 does not log a proposal verbatim; it logs a canonical body, and clients
// check that body against their bundle. The mock logs the proposal as sent, so do what
// Rekor does first: hashedrekord keys/certificates re-encoded as 64-column PEM, and a
// dsse proposal (envelope + verifiers) turned into envelopeHash, payloadHash, signatures.
const pem64 = (pem) => {
  const parts = pem.match(/-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/);
  if (!parts) return pem;
  const lines = parts[2].replace(/\s+/g, '').match(/.{1,64}/g).join('\n');
  return `-----BEGIN ${parts[1]}-----\n${lines}\n-----END ${parts[1]}-----\n`;
};
const sha256hex = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

function adaptRekor(body) {
  const entry = JSON.parse(body.toString());
  const spec = entry.spec || {};
  const material = entry.kind === 'hashedrekord' && spec.signature && spec.signature.publicKey;
  if (material && material.content) {
    material.content = b64(pem64(Buffer.from(material.content, 'base64').toString()));
  }
  if (entry.kind === 'dsse' && spec.proposedContent) {
    const { envelope, verifiers } = spec.proposedContent;
    const parsed = JSON.parse(envelope);
    // One verifier per signing certificate; with several, Rekor names the one that verified.
    const verifier = b64(pem64(Buffer.from(verifiers[0], 'base64').toString()));
    entry.spec = {
      envelopeHash: { algorithm: 'sha256', value: sha256hex(envelope) },
      payloadHash: { algorithm: 'sha256', value: sha256hex(Buffer.from(parsed.payload, 'base64')) },
      signatures: parsed.signatures.map((s) => ({ signature: s.sig, verifier })),
    };
  }
  return JSON.stringify(entry);
}

// sigstore-js asks the TSA in JSON; RFC 3161 clients send a DER TimeStampReq. The nonce is
// carried over as the request's own INTEGER: it is 64 bits or more and must come back exact.
async function timestampDer(tsa, body) {
  const req = pkijs.TimeStampReq.fromBER(new Uint8Array(body).buffer);
  const imprint = req.messageImprint;
  const request = {
    artifactHash: Buffer.from(imprint.hashedMessage.valueBlock.valueHexView),
    hashAlgorithmOID: imprint.hashAlgorithm.algorithmId,
    nonce: 0,
    policyOID: req.reqPolicy || '1.3.6.1.4.1.57264.2',
    certReq: Boolean(req.certReq),
  };
  const makeInfo = tsa.tstInfo;
  tsa.tstInfo = function tstInfoWithNonce(r) {
    const info = makeInfo.call(this, r);
    if (req.nonce) info.nonce = req.nonce; else delete info.nonce;
    return info;
  };
  try {
    return await tsa.timestamp(request);
  } finally {
    tsa.tstInfo = makeInfo;
  }
}

// -- Rekor v2 ------------------------------------------------------------------------
// RFC 6962 hashing: leaves and interior nodes are domain-separated, so that no leaf can
// pass for a node.
const sha256 = (...parts) => {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const leafHash = (body) => sha256(Buffer.from([0]), body);
const nodeHash = (left, right) => sha256(Buffer.from([1]), left, right);
const splitPoint = (n) => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};
function treeHash(leaves) {
  if (leaves.length === 0) return sha256(Buffer.alloc(0));
  if (leaves.length === 1) return leaves[0];
  const k = splitPoint(leaves.length);
  return nodeHash(treeHash(leaves.slice(0, k)), treeHash(leaves.slice(k)));
}
function auditPath(index, leaves) {
  if (leaves.length <= 1) return [];
  const k = splitPoint(leaves.length);
  if (index < k) return [...auditPath(index, leaves.slice(0, k)), treeHash(leaves.slice(k))];
  return [...auditPath(index - k, leaves.slice(k)), treeHash(leaves.slice(0, k))];
}

// A log key as C2SP signed notes name it: the key id is SHA-256(name || "\n" || 0x02 ||
// SubjectPublicKeyInfo) for an ECDSA key, and a signature line carries its first 4 bytes.
function initializeLogV2(base, keyPair) {
  const name = new URL(base).host;
  const publicKeyDer = keyPair.publicKey.export({ format: 'der', type: 'spki' });
  const keyId = sha256(Buffer.from(`${name}\n`), Buffer.from([2]), publicKeyDer);
  return { name, publicKeyDer, keyId, privateKey: keyPair.privateKey, leaves: [] };
}

function checkpoint(log, size, root) {
  const note = `${log.name}\n${size}\n${b64(root)}\n`;
  const signature = crypto.sign('sha256', Buffer.from(note), log.privateKey);
  return `${note}\n\u2014 ${log.name} ${b64(Buffer.concat([log.keyId.subarray(0, 4), signature]))}\n`;
}

const KEY_DETAILS = 'PKIX_ECDSA_P256_SHA_256';

// The verifier as the request names it: a DER certificate (keyless) or a public key.
function verifierKey(verifier) {
  if (!verifier || verifier.keyDetails !== KEY_DETAILS) throw new Error(`verifier key must be ${KEY_DETAILS}`);
  if (verifier.x509Certificate) {
    return new crypto.X509Certificate(Buffer.from(verifier.x509Certificate.rawBytes, 'base64')).publicKey;
  }
  if (verifier.publicKey) return crypto.createPublicKey({ key: Buffer.from(verifier.publicKey.rawBytes, 'base64'), format: 'der', type: 'spki' });
  throw new Error('verifier names neither a certificate nor a public key');
}

const pae = (type, payload) => Buffer.concat([
  Buffer.from(`DSSEv1 ${Buffer.byteLength(type)} ${type} ${payload.length} `), payload,
]);

// What Rekor v2 logs for each request kind (its canonicalized body); the log refuses a
// DSSE envelope whose signature the named verifier did not make. A hashedrekord signature
// is over a digest Node cannot verify without hashing again, so it is logged as sent (the
// tests' verifiers check it themselves).
function entryBody(request) {
  if (request.hashedRekordRequestV002) {
    const r = request.hashedRekordRequestV002;
    const digest = Buffer.from(r.digest || '', 'base64');
    if (digest.length !== 32) throw new Error('hashedrekord digest must be a SHA-256 digest');
    if (!r.signature || !r.signature.content) throw new Error('hashedrekord request has no signature');
    verifierKey(r.signature.verifier);
    return {
      kind: 'hashedrekord',
      body: {
        apiVersion: '0.0.2', kind: 'hashedrekord',
        spec: { hashedRekordV002: { data: { algorithm: 'SHA2_256', digest: b64(digest) }, signature: r.signature } },
      },
    };
  }
  if (request.dsseRequestV002) {
    const { envelope, verifiers } = request.dsseRequestV002;
    const payload = Buffer.from(envelope.payload, 'base64');
    if (!envelope.signatures || envelope.signatures.length === 0) throw new Error('the DSSE envelope has no signature');
    const signatures = envelope.signatures.map((s) => {
      const sig = Buffer.from(s.sig, 'base64');
      const verifier = (verifiers || []).find((v) => crypto.verify('sha256', pae(envelope.payloadType, payload), verifierKey(v), sig));
      if (!verifier) throw new Error('no verifier of the request made the envelope signature');
      return { content: b64(sig), verifier };
    });
    return {
      kind: 'dsse',
      body: {
        apiVersion: '0.0.2', kind: 'dsse',
        spec: { dsseV002: { payloadHash: { algorithm: 'SHA2_256', digest: b64(sha256(payload)) }, signatures } },
      },
    };
  }
  throw new Error('expected hashedRekordRequestV002 or dsseRequestV002');
}

function addEntryV2(log, rawRequest) {
  const { kind, body } = entryBody(JSON.parse(rawRequest));
  const canonical = Buffer.from(JSON.stringify(body));
  const index = log.leaves.length;
  log.leaves.push(leafHash(canonical));
  const size = log.leaves.length;
  const root = treeHash(log.leaves);
  const entry = {
    logIndex: String(index),
    logId: { keyId: b64(log.keyId) },
    kindVersion: { kind, version: '0.0.2' },
    inclusionProof: {
      logIndex: String(index),
      rootHash: b64(root),
      treeSize: String(size),
      hashes: auditPath(index, log.leaves).map(b64),
      checkpoint: { envelope: checkpoint(log, size, root) },
    },
    canonicalizedBody: b64(canonical),
  };
  return { statusCode: 201, contentType: 'application/json', response: JSON.stringify(entry) };
}

function serve(server, base, parts) {
  const handlers = new Map(
    [mock.fulcioHandler(parts.ca), mock.rekorHandler(parts.tlog), mock.tsaHandler(parts.tsa)].map((h) => [h.path, h.fn]),
  );
  handlers.set(REKOR_V2_ENTRIES_PATH, async (body) => addEntryV2(parts.logV2, body));
  server.on('request', (req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', async () => {
      const route = new URL(req.url, base).pathname;
      const handler = handlers.get(route);
      if (!handler || req.method !== 'POST') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end(`no ${req.method} ${route} here\n`);
        return;
      }
      let body = Buffer.concat(chunks);
      let result;
      try {
        if (route === TSA_PATH && (req.headers['content-type'] || '').startsWith('application/timestamp-query')) {
          result = { statusCode: 201, contentType: 'application/timestamp-reply', response: await timestampDer(parts.tsa, body) };
        } else {
          if (route === FULCIO_PATH) body = adaptFulcio(body, req.headers);
          if (route === REKOR_ENTRIES_PATH) body = adaptRekor(body);
          result = await handler(body.toString());
        }
      } catch (e) {
        result = { statusCode: 400, contentType: 'text/plain', response: `bad request: ${e.message}` };
      }
      if (result.statusCode >= 400) console.error(`${req.method} ${route} -> ${result.statusCode}: ${result.response}`);
      res.writeHead(result.statusCode, { 'content-type': result.contentType || 'text/plain' });
      const out = result.response;
      res.end(typeof out === 'string' ? out : Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    });
  });
}

async function main() {
  const server = http.createServer();
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  console.log(`port ${server.address().port}`);

  const ctlog = await mock.initializeCTLog(newKeyPair());
  const parts = {
    ctlog,
    ca: await mock.initializeCA(newKeyPair(), ctlog),
    tlog: await mock.initializeTLog(base, newKeyPair()),
    tsa: await mock.initializeTSA(newKeyPair()),
    logV2: initializeLogV2(base, newKeyPair()),
  };
  // DER writes a GeneralizedTime's fraction without trailing zeros (".12Z"), but
  // @sigstore/core reads only exactly three digits (".120Z") and rejects one timestamp
  // in ten with "invalid time". Whole seconds carry no fraction: every reader agrees.
  parts.tsa.getCurrentTime = () => new Date(Math.floor(Date.now() / 1000) * 1000);
  // The mock CA issues certificates for exactly 10 minutes from its clock. Tests of
  // certificate expiry ask for a shorter life: the clock runs that much behind.
  const certSeconds = Number(process.env.MOCK_SIGSTORE_CERT_SECONDS || 600);
  parts.ca.getCurrentTime = () => new Date(Date.now() - (600 - certSeconds) * 1000);
  serve(server, base, parts);

  const root = trustedRoot(base, parts);
  const signing = signingConfig(base);
  const write = (name, doc) => fs.writeFileSync(path.join(outDir, name), JSON.stringify(doc, null, 1) + '\n');
  write('trusted_root.json', root);
  write('signing_config.json', signing);
  write('trust_config.json', {
    mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
    trustedRoot: root,
    signingConfig: signing,
  });
  const signingV2 = signingConfig(base, 2);
  write('signing_config_v2.json', signingV2);
  write('trust_config_v2.json', {
    mediaType: 'application/vnd.dev.sigstore.clienttrustconfig.v0.1+json',
    trustedRoot: root,
    signingConfig: signingV2,
  });
  console.log(`ready ${base}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`mock sigstore failed to start: ${e.stack || e}`);
  process.exit(1);
});
