// twilio-sign: signs Twilio webhook deliveries with the official twilio
// package (6.3.1 or later), for the C integration tests
// (tests/integration/webhook_platform.c), so that what Parley accepts is
// what Twilio's own code produces, not a copy of our signing code.
//
// stdin: a JSON array of {secret, url, params, keyId?}. params is an
// object of the form fields as posted. With keyId the delivery is signed
// the Webhook Shared Keys way (HMAC-SHA256 under the key's secret, the
// settings header naming keyId); without it the classic way (HMAC-SHA1
// under the Auth Token, no settings header).
// stdout: a JSON array, one array of "Name: value" header lines per
// request. Exit 1 with a sentence on stderr on bad input.
'use strict';

const twilio = require('twilio');

function sign(req) {
	if (typeof req.secret !== 'string' || typeof req.url !== 'string' ||
	    typeof req.params !== 'object' || req.params === null)
		throw new Error('each request needs secret, url and params');
	const shared = typeof req.keyId === 'string';
	const algorithm = shared ? twilio.HMAC_SHA256 : twilio.HMAC_SHA1;
	const sig = twilio.getExpectedTwilioSignature(req.secret, req.url,
	    req.params, algorithm);
	// The package's own check must agree before the test relies on it.
	if (!twilio.validateRequest(req.secret, sig, req.url, req.params,
	    algorithm))
		throw new Error('twilio.validateRequest refused its own signature');
	const headers = [`${twilio.SIGNATURE_HEADER}: ${sig}`];
	if (shared)
		headers.push(`${twilio.SIGNATURE_SETTINGS_HEADER}: ` +
		    `key=${req.keyId},algorithm=${algorithm}`);
	return headers;
}

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { input += chunk; });
process.stdin.on('end', () => {
	try {
		const reqs = JSON.parse(input);
		if (!Array.isArray(reqs))
			throw new Error('stdin must be a JSON array');
		process.stdout.write(JSON.stringify(reqs.map(sign)) + '\n');
	} catch (e) {
		process.stderr.write(`twilio-sign: ${e.message}\n`);
		process.exit(1);
	}
});
