#!/usr/bin/env node
// A private Sigstore deployment for slsacheck's keyless tests: Fulcio, Rekor v1 and an
// RFC 3161 TSA from @sigstore/mock, served over real HTTP on 127.0.0.1 only.
//
// usage: node mock_sigstore.js PORT OUTDIR
//   PORT 0 lets the OS choose; the first stdout line is always `port <N>`, the last
//   line before serving is `ready <base-url>`, written after OUTDIR holds:
//     trusted_root.json    Sigstore TrustedRoot (Fulcio CA, Rekor key, CT log key, TSA chain)
//     signing_config.json  Sigstore SigningConfig v0.2 (Fulcio, Rekor v1, TSA URLs)
//     trust_config.json    ClientTrustConfig = both of the above (sigstore-python --trust-config)
// Rekor v2 is not served: the mock's v2 handler logs the request (with Buffers serialised
// as {"type":"Buffer"}) rather than a v2 entry body, and proves a random index in a tree of
// one, so no client can verify what it returns.
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
const TSA_PATH = '/api/v1/timestamp';

const port = Number(process.argv[2] || 0);
const outDir = process.argv[3] || '.';
const b64 = (bytes) => Buffer.from(bytes).toString('base64');
const newKeyPair = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
// Keys count as valid from an hour ago, so that clock skew between processes never matters.
const validFrom = new Date(Date.now() - 3600 * 1000).toISOString();

function trustedRoot(base, { ca, ctlog, tlog, tsa }) {
  const key = (raw) => ({ rawBytes: b64(raw), keyDetails: 'PKIX_ECDSA_P256_SHA_256', validFor: { start: validFrom } });
  const sha256 = (raw) => crypto.createHash('sha256').update(raw).digest();
  return {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [{ baseUrl: base, hashAlgorithm: 'SHA2_256', publicKey: key(tlog.publicKey), logId: { keyId: b64(sha256(tlog.publicKey)) } }],
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

function signingConfig(base) {
  const service = (url) => ({ url, majorApiVersion: 1, operator: 'slsacheck-tests', validFor: { start: validFrom } });
  return {
    mediaType: 'application/vnd.dev.sigstore.signingconfig.v0.2+json',
    caUrls: [service(base)],
    oidcUrls: [],
    rekorTlogUrls: [service(base)],
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

function serve(server, base, parts) {
  const handlers = new Map(
    [mock.fulcioHandler(parts.ca), mock.rekorHandler(parts.tlog), mock.tsaHandler(parts.tsa)].map((h) => [h.path, h.fn]),
  );
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
  console.log(`ready ${base}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((e) => {
  console.error(`mock sigstore failed to start: ${e.stack || e}`);
  process.exit(1);
});
