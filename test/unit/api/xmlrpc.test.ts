import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeMethodCall,
  decodeMethodResponse,
  encodeFault,
  encodeMethodCall,
  encodeMethodResponse,
  encodeMethodResponseBytes,
} from '../../../core/api/xmlrpc.js';
import { XmlRpcDecodeError } from '../../../core/api/xmlrpc-document.js';
import {
  XML_RPC_MAX_DEPTH,
  XmlRpcDouble,
  type XmlRpcEncodable,
  type XmlRpcValue,
} from '../../../core/api/xmlrpc-value.js';

const call = (value: string) =>
  `<methodCall><methodName>m</methodName><params><param><value>${value}</value></param></params></methodCall>`;
const param = (value: string): XmlRpcValue => decodeMethodCall(call(value)).params[0] as XmlRpcValue;
const response = (value: string) =>
  `<methodResponse><params><param><value>${value}</value></param></params></methodResponse>`;

/** Asserts that fn throws XmlRpcDecodeError with exactly this message. */
function decodeFails(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof XmlRpcDecodeError, `not an XmlRpcDecodeError: ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

describe('XML-RPC requests as real clients write them', () => {
  it("Python's xmlrpc.client (pyone): newlines between elements, <int>, CRLF in a string", () => {
    // xmlrpc.client.dumps((...), 'one.backupjob.info', allow_none=True), Python 3.12.
    const body =
      "<?xml version='1.0'?>\n<methodCall>\n<methodName>one.backupjob.info</methodName>\n<params>\n" +
      '<param>\n<value><string>oneadmin:pw</string></value>\n</param>\n' +
      '<param>\n<value><int>5</int></value>\n</param>\n' +
      '<param>\n<value><boolean>1</boolean></value>\n</param>\n' +
      '<param>\n<value><double>1.5</double></value>\n</param>\n' +
      '<param>\n<value><array><data>\n<value><int>1</int></value>\n<value><string>a</string></value>\n</data></array></value>\n</param>\n' +
      '<param>\n<value><struct>\n<member>\n<name>a</name>\n<value><int>1</int></value>\n</member>\n</struct></value>\n</param>\n' +
      '<param>\n<value><base64>\nYWJj\n</base64></value>\n</param>\n' +
      '<param>\n<value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value>\n</param>\n' +
      '<param>\n<value><nil/></value></param>\n' +
      '<param>\n<value><string>a&lt;b&amp;c&gt;d\r\n</string></value>\n</param>\n' +
      '</params>\n</methodCall>\n';
    assert.deepEqual(decodeMethodCall(body), {
      methodName: 'one.backupjob.info',
      params: [
        'oneadmin:pw',
        5,
        true,
        1.5,
        [1, 'a'],
        { a: 1 },
        Buffer.from('abc'),
        new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
        null,
        'a<b&c>d\n',
      ],
    });
  });

  it('Python with no arguments sends an empty <params>', () => {
    const body =
      "<?xml version='1.0'?>\n<methodCall>\n<methodName>one.system.version</methodName>\n<params>\n</params>\n</methodCall>\n";
    assert.deepEqual(decodeMethodCall(body), { methodName: 'one.system.version', params: [] });
  });

  it("Ruby's xmlrpc (OCA): one line, <i4>, raw quotes and newlines, <params/>, <data/>, <struct/>", () => {
    const body =
      '<?xml version="1.0" ?><methodCall><methodName>one.backupjob.update</methodName><params>' +
      '<param><value><string>oneadmin:opennebula</string></value></param>' +
      '<param><value><i4>7</i4></value></param>' +
      '<param><value><string>KEEP_LAST = "3"\nNAME = \'a &amp; b\'</string></value></param>' +
      '<param><value><i4>-1</i4></value></param>' +
      '<param><value><array><data/></array></value></param>' +
      '<param><value><struct/></value></param>' +
      '<param><value><string></string></value></param>' +
      '<param><value><double>1.0e+20</double></value></param>' +
      '</params></methodCall>\n';
    assert.deepEqual(decodeMethodCall(body), {
      methodName: 'one.backupjob.update',
      params: [
        'oneadmin:opennebula',
        7,
        'KEEP_LAST = "3"\nNAME = \'a & b\'',
        -1,
        [],
        {},
        '',
        new XmlRpcDouble(1e20),
      ],
    });
    assert.deepEqual(
      decodeMethodCall(
        '<?xml version="1.0" ?><methodCall><methodName>one.user.info</methodName><params/></methodCall>\n',
      ),
      {
        methodName: 'one.user.info',
        params: [],
      },
    );
  });

  it("Go's kolo/xmlrpc: encoding declaration, <int>, xml.EscapeText character references", () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?><methodCall><methodName>one.backupjob.allocate</methodName><params>' +
      '<param><value><string>oneadmin:pw</string></value></param>' +
      '<param><value><string>NAME=&#34;x&#39;s&#34;&#xA;MODE=&#34;FULL&#34;&#x9;&#xD;</string></value></param>' +
      '</params></methodCall>';
    assert.deepEqual(decodeMethodCall(body).params, ['oneadmin:pw', `NAME="x's"\nMODE="FULL"\t\r`]);
  });

  it('an untyped <value> is a string, kept verbatim', () => {
    assert.equal(param('plain text'), 'plain text');
    assert.equal(param('  spaced\n'), '  spaced\n');
    assert.equal(param(''), '');
    assert.equal(param('<![CDATA[<b>]]>'), '<b>');
    assert.equal(param('<string>  </string>'), '  ');
    assert.equal(param('<string/>'), '');
    assert.equal(param('\n  <string>x</string>\n'), 'x');
  });

  it('reads every integer spelling, and i8 up to 2^53', () => {
    assert.equal(param('<i4>2147483647</i4>'), 2147483647);
    assert.equal(param('<int>-2147483648</int>'), -2147483648);
    assert.equal(param('<int> +42 </int>'), 42);
    assert.equal(param('<int>-0</int>'), 0);
    assert.ok(Object.is(param('<int>-0</int>'), 0));
    assert.equal(param('<i8>9007199254740991</i8>'), 9007199254740991);
    assert.equal(param('<ex:i8>-5000000000</ex:i8>'), -5000000000);
  });

  it('reads doubles: whole ones stay XmlRpcDouble so they re-encode as doubles', () => {
    assert.equal(param('<double>-12.214</double>'), -12.214);
    assert.equal(param('<double>.5</double>'), 0.5);
    assert.equal(param('<double>1e-7</double>'), 1e-7);
    assert.deepEqual(param('<double>3.0</double>'), new XmlRpcDouble(3));
    assert.deepEqual(param('<double>1e+21</double>'), new XmlRpcDouble(1e21));
  });

  it('reads booleans, base64, nil', () => {
    assert.equal(param('<boolean>0</boolean>'), false);
    assert.equal(param('<boolean> true </boolean>'), true);
    assert.deepEqual(param('<base64>AAEC/w==</base64>'), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(param('<base64>YW Jj\nZA</base64>'), Buffer.from('abcd'));
    assert.deepEqual(param('<base64></base64>'), Buffer.alloc(0));
    assert.equal(param('<ex:nil/>'), null);
  });

  it('reads dates in basic and extended form, with a zone when given', () => {
    const at = (...p: [number, number, number, number, number, number, number?]) =>
      new Date(Date.UTC(p[0], p[1] - 1, p[2], p[3], p[4], p[5], p[6] ?? 0));
    assert.deepEqual(
      param('<dateTime.iso8601>19980717T14:08:55</dateTime.iso8601>'),
      at(1998, 7, 17, 14, 8, 55),
    );
    assert.deepEqual(
      param('<dateTime.iso8601>2024-02-29T23:59:59Z</dateTime.iso8601>'),
      at(2024, 2, 29, 23, 59, 59),
    );
    assert.deepEqual(
      param('<dateTime.iso8601>20240101T00:30:00+01:00</dateTime.iso8601>'),
      at(2023, 12, 31, 23, 30, 0),
    );
    assert.deepEqual(
      param('<dateTime.iso8601>20240101T00:00:00.250-0230</dateTime.iso8601>'),
      at(2024, 1, 1, 2, 30, 0, 250),
    );
  });

  it('reads structs into plain objects; __proto__ is just a member name', () => {
    const v = param(
      '<struct><member><name>__proto__</name><value><i4>1</i4></value></member>' +
        '<member><name>constructor</name><value>x</value></member>' +
        '<member><name>a</name><value><i4>1</i4></value></member>' +
        '<member><name>a</name><value><i4>2</i4></value></member></struct>',
    ) as Record<string, XmlRpcValue>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(Object.keys(v), ['__proto__', 'constructor', 'a']);
    assert.equal(Object.getOwnPropertyDescriptor(v, '__proto__')?.value, 1);
    assert.equal(v['a'], 2);
    assert.equal(({} as Record<string, unknown>)['constructor'], Object);
  });

  it(`accepts nesting up to ${XML_RPC_MAX_DEPTH} values`, () => {
    const depth = XML_RPC_MAX_DEPTH - 1;
    let v: XmlRpcValue = 'x';
    for (let i = 0; i < depth; i++) v = [v];
    const body = call(`${'<array><data><value>'.repeat(depth)}x${'</value></data></array>'.repeat(depth)}`);
    assert.deepEqual(decodeMethodCall(body).params[0], v);
  });
});

describe('XML-RPC responses as OpenNebula (xmlrpc-c) writes them', () => {
  it('a success with CRLF line ends and the document in a string', () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<params>\r\n<param><value><array><data>\r\n' +
      '<value><boolean>1</boolean></value>\r\n' +
      '<value><string>&lt;BACKUPJOB&gt;&lt;ID&gt;2&lt;/ID&gt;&lt;TEMPLATE&gt;&lt;A&gt;&lt;![CDATA[x&amp;y]]&gt;&lt;/A&gt;&lt;/TEMPLATE&gt;&lt;/BACKUPJOB&gt;</string></value>\r\n' +
      '<value><i4>0</i4></value>\r\n</data></array></value></param>\r\n</params>\r\n</methodResponse>\r\n';
    assert.deepEqual(decodeMethodResponse(body), {
      value: [true, '<BACKUPJOB><ID>2</ID><TEMPLATE><A><![CDATA[x&y]]></A></TEMPLATE></BACKUPJOB>', 0],
    });
  });

  it('the one-line form', () => {
    const body =
      '<?xml version="1.0"?><methodResponse><params><param><value><array><data><value><boolean>0</boolean></value>' +
      '<value><string>[one.backupjob.info] Error getting backup job [99].</string></value><value><i4>1024</i4></value>' +
      '</data></array></value></param></params></methodResponse>';
    assert.deepEqual(decodeMethodResponse(body), {
      value: [false, '[one.backupjob.info] Error getting backup job [99].', 1024],
    });
  });

  it('a fault', () => {
    const body =
      '<?xml version="1.0" encoding="UTF-8"?>\r\n<methodResponse>\r\n<fault>\r\n<value><struct>\r\n' +
      '<member><name>faultCode</name>\r\n<value><i4>-501</i4></value></member>\r\n' +
      '<member><name>faultString</name>\r\n<value><string>Requested method not found</string></value></member>\r\n' +
      '</struct></value>\r\n</fault>\r\n</methodResponse>\r\n';
    assert.deepEqual(decodeMethodResponse(body), {
      fault: { code: -501, message: 'Requested method not found' },
    });
  });
});

describe('XML-RPC encoding', () => {
  it('writes responses as xmlrpc-c does: <i4>, <string>, <boolean>', () => {
    assert.equal(
      encodeMethodResponse([true, '<BACKUPJOB><NAME>a &amp; b</NAME></BACKUPJOB>', 0]),
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param><value><array><data>' +
        '<value><boolean>1</boolean></value>' +
        '<value><string>&lt;BACKUPJOB&gt;&lt;NAME&gt;a &amp;amp; b&lt;/NAME&gt;&lt;/BACKUPJOB&gt;</string></value>' +
        '<value><i4>0</i4></value></data></array></value></param></params></methodResponse>\n',
    );
  });

  it('sends as bytes exactly what it writes as text, long documents included', () => {
    // Every character escapeString treats apart, multi-byte UTF-8 (2, 3 and 4 bytes), characters
    // XML cannot carry (a control, a lone surrogate, U+FFFE), around the length where documents
    // are escaped as bytes.
    const piece = '<VM><NAME>a &amp; b\r\n</NAME><T><![CDATA[é 日本 😀 ]]>]]></T>\u0001\uD800\uFFFE>&</VM>';
    const doc = (length: number) => piece.repeat(Math.ceil(length / piece.length)).slice(0, length);
    const values: XmlRpcEncodable[] = [
      [true, '<VM_POOL></VM_POOL>', 0],
      [false, '[one.vm.info] Error getting VM [7].', 0x400],
      [true, 7, 0],
      'a string alone',
      { faultCode: 1, faultString: doc(5000) },
    ];
    for (const length of [2047, 2048, 2049, 10_000, 100_001]) values.push([true, doc(length), 0]);
    // Documents as the daemon builds them (nothing XML cannot carry), and other such characters.
    const clean = '<VM><NAME>a &amp; b\r\n</NAME><T><![CDATA[é 日本 😀 ]]>]]></T>\t></VM>'.repeat(200);
    values.push([true, clean, 0], [true, `${clean}\u001F\uDC00\uFFFF\uD83D`, 0]);
    values.push([true, 'x'.repeat(4096), 0], [true, doc(3000), doc(3000), -1]);
    for (const value of values) {
      const bytes = encodeMethodResponseBytes(value);
      assert.ok(
        bytes.equals(Buffer.from(encodeMethodResponse(value), 'utf8')),
        JSON.stringify(value).slice(0, 80),
      );
    }
    const long = encodeMethodResponseBytes([true, doc(4000), 0]).toString('utf8');
    const readable = doc(4000)
      .replaceAll('\u0001', '\uFFFD')
      .replaceAll('\uD800', '\uFFFD')
      .replaceAll('\uFFFE', '\uFFFD');
    assert.deepEqual(decodeMethodResponse(long), { value: [true, readable, 0] });
  });

  it('writes faults', () => {
    assert.equal(
      encodeFault(0x1000, 'malformed XML-RPC request: <x>'),
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><fault><value><struct>' +
        '<member><name>faultCode</name><value><i4>4096</i4></value></member>' +
        '<member><name>faultString</name><value><string>malformed XML-RPC request: &lt;x&gt;</string></value></member>' +
        '</struct></value></fault></methodResponse>\n',
    );
    assert.throws(() => encodeFault(1.5, 'x'), /^RangeError: fault code 1.5 is not a 32-bit integer$/);
  });

  it('writes calls as Python does: <int>', () => {
    assert.equal(
      encodeMethodCall('one.backupjob.update', ['oneadmin:pw', 7, 'A="1"\nB=2', 1]),
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodCall><methodName>one.backupjob.update</methodName><params>' +
        '<param><value><string>oneadmin:pw</string></value></param>' +
        '<param><value><int>7</int></value></param>' +
        '<param><value><string>A="1"\nB=2</string></value></param>' +
        '<param><value><int>1</int></value></param></params></methodCall>\n',
    );
    assert.equal(
      encodeMethodCall('one.system.version', []),
      '<?xml version="1.0" encoding="UTF-8"?>\n<methodCall><methodName>one.system.version</methodName><params></params></methodCall>\n',
    );
  });

  const values: readonly (readonly [string, XmlRpcEncodable, string])[] = [
    [
      'int32 bounds',
      [2147483647, -2147483648],
      '<array><data><value><i4>2147483647</i4></value><value><i4>-2147483648</i4></value></data></array>',
    ],
    [
      'beyond 32 bits: <i8>',
      [2147483648, -(2 ** 53) + 1],
      '<array><data><value><i8>2147483648</i8></value><value><i8>-9007199254740991</i8></value></data></array>',
    ],
    ['beyond 2^53: <double>, shortest decimal', 2 ** 60, '<double>1152921504606847000.0</double>'],
    ['non-integers: <double>', 0.1, '<double>0.1</double>'],
    [
      'never exponents',
      [1e21, -1.5e-7, 5e-324],
      `<array><data><value><double>1000000000000000000000.0</double></value><value><double>-0.00000015</double></value><value><double>0.${'0'.repeat(323)}5</double></value></data></array>`,
    ],
    [
      'XmlRpcDouble',
      [new XmlRpcDouble(3), new XmlRpcDouble(-0)],
      '<array><data><value><double>3.0</double></value><value><double>-0.0</double></value></data></array>',
    ],
    ['-0 as an int', -0, '<i4>0</i4>'],
    [
      'booleans',
      [true, false],
      '<array><data><value><boolean>1</boolean></value><value><boolean>0</boolean></value></data></array>',
    ],
    ['nil', null, '<nil/>'],
    [
      'dates in UTC, seconds',
      new Date(Date.UTC(2026, 0, 5, 8, 0, 0, 999)),
      '<dateTime.iso8601>20260105T08:00:00</dateTime.iso8601>',
    ],
    ['bytes', new Uint8Array([0, 1, 2, 255]), '<base64>AAEC/w==</base64>'],
    [
      'structs in key order',
      { b: 1, a: 'x&' },
      '<struct><member><name>b</name><value><i4>1</i4></value></member><member><name>a</name><value><string>x&amp;</string></value></member></struct>',
    ],
    ['escapes: & < > and CR; quotes raw', `&<>"'\r\n\t`, `<string>&amp;&lt;&gt;"'&#13;\n\t</string>`],
    [
      'characters XML cannot carry become U+FFFD',
      '\u0000\u001b\uFFFF\uDC00ok😀',
      '<string>\uFFFD\uFFFD\uFFFD\uFFFDok😀</string>',
    ],
  ];
  for (const [what, value, xml] of values) {
    it(what, () => {
      assert.equal(
        encodeMethodResponse(value),
        `<?xml version="1.0" encoding="UTF-8"?>\n<methodResponse><params><param><value>${xml}</value></param></params></methodResponse>\n`,
      );
    });
  }

  it('refuses values XML-RPC has no form for', () => {
    const cyclic: unknown[] = [];
    cyclic.push(cyclic);
    const cases: readonly (readonly [unknown, RegExp])[] = [
      [Number.NaN, /^RangeError: XML-RPC has no form for the double NaN$/],
      [Number.POSITIVE_INFINITY, /^RangeError: XML-RPC has no form for the double Infinity$/],
      [
        new XmlRpcDouble(Number.NEGATIVE_INFINITY),
        /^RangeError: XML-RPC has no form for the double -Infinity$/,
      ],
      [new Date(Number.NaN), /^RangeError: XML-RPC has no form for an invalid Date$/],
      [undefined, /^TypeError: XML-RPC has no form for a undefined$/],
      [10n, /^TypeError: XML-RPC has no form for a bigint$/],
      [{ a: undefined }, /^TypeError: XML-RPC has no form for undefined \(member "a"\)$/],
      [new Map(), /^TypeError: XML-RPC has no form for a Map$/],
      [cyclic, /^RangeError: XML-RPC value nested deeper than 64 \(or cyclic\)$/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => encodeMethodResponse(value as XmlRpcEncodable),
        (err: unknown) => {
          assert.match(String(err), message);
          return true;
        },
      );
    }
    assert.throws(
      () => encodeMethodCall('bad name', []),
      /^TypeError: "bad name" is not an XML-RPC method name/,
    );
  });

  it('round-trips every type through a call and a response', () => {
    const all: XmlRpcValue[] = [
      '',
      'text with <markup> & "quotes"\r\n\ttabs, é, 😀',
      0,
      -2147483648,
      2147483647,
      2 ** 40,
      -(2 ** 53 - 1),
      0.1,
      -1.5e-300,
      new XmlRpcDouble(42),
      true,
      false,
      null,
      new Date(Date.UTC(1970, 0, 1, 0, 0, 0)),
      new Date(Date.UTC(2038, 0, 19, 3, 14, 8)),
      Buffer.from([]),
      Buffer.from('binary \u0000\u00ff', 'latin1'),
      [],
      {},
      [[1, [2, [3]]], { nested: { deeper: ['x', { y: null }] } }],
      { 'key with spaces & <markup>': 'v', '': 1 },
    ];
    assert.deepEqual(decodeMethodCall(encodeMethodCall('a.b', all)), { methodName: 'a.b', params: all });
    assert.deepEqual(decodeMethodResponse(encodeMethodResponse(all)), { value: all });
    for (const [code, message] of [
      [0, ''],
      [-1, 'x'],
      [0x2000, 'internal error: <&>\nsecond line'],
    ] as const) {
      assert.deepEqual(decodeMethodResponse(encodeFault(code, message)), { fault: { code, message } });
    }
  });
});

describe('XML-RPC decoding errors', () => {
  const callErrors: readonly (readonly [string, string, string])[] = [
    ['empty body', '', 'the body is empty'],
    ['whitespace only', ' \n ', 'the body is empty'],
    ['not XML', 'garbage', 'not well-formed XML: Non-whitespace before first tag (line 1, column 1)'],
    [
      'unclosed',
      '<methodCall><methodName>a</methodName>',
      'not well-formed XML: Unclosed root tag (line 1, column 38)',
    ],
    [
      'mismatched',
      '<methodCall></methodName>',
      'not well-formed XML: Unexpected close tag (line 1, column 25)',
    ],
    [
      'text after the root',
      '<methodCall><methodName>a</methodName></methodCall>x',
      'not well-formed XML: Text data outside of root node (line 1, column 52)',
    ],
    [
      'a second root',
      '<methodCall><methodName>a</methodName></methodCall><methodCall/>',
      'more than one root element',
    ],
    ['wrong root', '<methodResponse/>', 'expected <methodCall>, got <methodResponse>'],
    ['no methodName', '<methodCall><params/></methodCall>', '<methodCall> has no <methodName>'],
    ['empty methodName', '<methodCall><methodName> </methodName></methodCall>', 'the method name is empty'],
    [
      'bad methodName',
      '<methodCall><methodName>one.vm.info;rm</methodName></methodCall>',
      'the method name "one.vm.info;rm" has characters other than A-Z a-z 0-9 _ . : /',
    ],
    [
      'markup in methodName',
      '<methodCall><methodName><x/></methodName></methodCall>',
      '<methodName> holds an element <x>, not text',
    ],
    [
      'stray element',
      '<methodCall><methodName>a</methodName><extra/></methodCall>',
      '<methodCall> holds an unexpected <extra>',
    ],
    [
      'stray text',
      '<methodCall>hello<methodName>a</methodName></methodCall>',
      '<methodCall> holds text "hello"',
    ],
    [
      'param without value',
      '<methodCall><methodName>a</methodName><params><param/></params></methodCall>',
      'parameter 1: <param> has no <value>',
    ],
    [
      'not a param',
      '<methodCall><methodName>a</methodName><params><value/></params></methodCall>',
      '<params> holds <value>, not <param>',
    ],
    [
      'undeclared entity',
      '<methodCall><methodName>&foo;</methodName></methodCall>',
      'not well-formed XML: Invalid character entity (line 1, column 29)',
    ],
    [
      'invalid character reference',
      call('&#0;'),
      'not well-formed XML: Invalid character entity (line 1, column 64)',
    ],
    [
      'surrogate reference',
      call('<string>&#xD800;</string>'),
      'not well-formed XML: Invalid character entity (line 1, column 76)',
    ],
  ];
  for (const [what, body, message] of callErrors) {
    it(what, () => decodeFails(() => decodeMethodCall(body), message));
  }

  const valueErrors: readonly (readonly [string, string, string])[] = [
    ['i4 over 32 bits', '<i4>2147483648</i4>', '<i4>"2147483648" does not fit in 32 bits; use <i8>'],
    ['int under 32 bits', '<int>-2147483649</int>', '<int>"-2147483649" does not fit in 32 bits; use <i8>'],
    [
      'huge int',
      `<int>${'9'.repeat(400)}</int>`,
      `<int>"${'9'.repeat(40)}..." does not fit in 32 bits; use <i8>`,
    ],
    [
      'i8 beyond 2^53',
      '<i8>9007199254740993</i8>',
      '<i8>"9007199254740993" is beyond ±2^53, the integers this server can hold',
    ],
    ['int with a point', '<int>1.0</int>', '<int>"1.0" is not an integer'],
    ['empty int', '<int></int>', '<int>"" is not an integer'],
    ['hex int', '<i4>0x10</i4>', '<i4>"0x10" is not an integer'],
    ['double word', '<double>NaN</double>', '<double>"NaN" is not a decimal number'],
    ['double inf', '<double>inf</double>', '<double>"inf" is not a decimal number'],
    ['double overflow', '<double>1e400</double>', '<double>"1e400" is out of range'],
    ['boolean 2', '<boolean>2</boolean>', '<boolean>"2" is not 0 or 1'],
    ['base64 junk', '<base64>@@@@</base64>', '<base64>"@@@@" is not base64'],
    ['base64 length', '<base64>A</base64>', '<base64>"A" is not base64'],
    [
      'date junk',
      '<dateTime.iso8601>yesterday</dateTime.iso8601>',
      '<dateTime.iso8601>"yesterday" is not a date (YYYYMMDDThh:mm:ss)',
    ],
    [
      'date Feb 30',
      '<dateTime.iso8601>20240230T00:00:00</dateTime.iso8601>',
      '<dateTime.iso8601>"20240230T00:00:00" is not a date (YYYYMMDDThh:mm:ss)',
    ],
    [
      'date 25h',
      '<dateTime.iso8601>20240101T25:00:00</dateTime.iso8601>',
      '<dateTime.iso8601>"20240101T25:00:00" is not a date (YYYYMMDDThh:mm:ss)',
    ],
    [
      'date trailing junk',
      '<dateTime.iso8601>20240101T00:00:00 and more</dateTime.iso8601>',
      '<dateTime.iso8601>"20240101T00:00:00 and more" is not a date (YYYYMMDDThh:mm:ss)',
    ],
    ['nil with content', '<nil>x</nil>', '<nil/> must be empty'],
    ['unknown type', '<float>1</float>', '<float> is not an XML-RPC type'],
    ['two types', '<int>1</int><int>2</int>', '<value> holds more than one element'],
    ['text and a type', 'x<int>1</int>', '<value> holds text "x"'],
    ['array without data', '<array></array>', '<array> has no <data>'],
    ['array with junk', '<array><data><int>1</int></data></array>', '<data> holds <int>, not <value>'],
    ['struct with junk', '<struct><value/></struct>', '<struct> holds <value>, not <member>'],
    [
      'member without name',
      '<struct><member><value>1</value></member></struct>',
      'a <member> must hold one <name> and one <value>',
    ],
    [
      'member with markup in name',
      '<struct><member><name><b/></name><value/></member></struct>',
      '<name> holds an element <b>, not text',
    ],
    ['markup inside string', '<string><b>x</b></string>', '<string> holds an element <b>, not text'],
    ['control character', '<string>a\u0001b</string>', 'a string holds U+0001, which XML does not allow'],
    ['lone surrogate', '<string>\uD800</string>', 'a string holds U+D800, which XML does not allow'],
    [
      'control character in a member name',
      '<struct><member><name>\u001b</name><value/></member></struct>',
      'a member name holds U+001B, which XML does not allow',
    ],
    [
      `nesting beyond ${XML_RPC_MAX_DEPTH}`,
      `${'<array><data><value>'.repeat(XML_RPC_MAX_DEPTH)}x${'</value></data></array>'.repeat(XML_RPC_MAX_DEPTH)}`,
      `values nested deeper than ${XML_RPC_MAX_DEPTH}`,
    ],
  ];
  for (const [what, value, message] of valueErrors) {
    it(what, () => decodeFails(() => decodeMethodCall(call(value)), `parameter 1: ${message}`));
  }

  it('names the parameter', () => {
    const body =
      '<methodCall><methodName>m</methodName><params><param><value>ok</value></param>' +
      '<param><value><int>x</int></value></param></params></methodCall>';
    decodeFails(() => decodeMethodCall(body), 'parameter 2: <int>"x" is not an integer');
  });

  const responseErrors: readonly (readonly [string, string, string])[] = [
    ['wrong root', '<methodCall/>', 'expected <methodResponse>, got <methodCall>'],
    ['empty response', '<methodResponse/>', '<methodResponse> must hold one <params> or <fault>'],
    [
      'params and fault',
      '<methodResponse><params/><fault/></methodResponse>',
      '<methodResponse> must hold one <params> or <fault>',
    ],
    ['no param', '<methodResponse><params/></methodResponse>', '<params> has no <param>'],
    [
      'two params',
      '<methodResponse><params><param><value/></param><param><value/></param></params></methodResponse>',
      '<params> holds more than one element',
    ],
    ['something else', '<methodResponse><result/></methodResponse>', '<methodResponse> holds <result>'],
    [
      'fault not a struct',
      '<methodResponse><fault><value>x</value></fault></methodResponse>',
      '<fault> does not hold a struct',
    ],
    [
      'fault without code',
      '<methodResponse><fault><value><struct><member><name>faultString</name><value>x</value></member></struct></value></fault></methodResponse>',
      '<fault> has no integer faultCode',
    ],
    [
      'fault without string',
      '<methodResponse><fault><value><struct><member><name>faultCode</name><value><i4>1</i4></value></member></struct></value></fault></methodResponse>',
      '<fault> has no string faultString',
    ],
    ['bad value', response('<i4>x</i4>'), '<i4>"x" is not an integer'],
  ];
  for (const [what, body, message] of responseErrors) {
    it(`response: ${what}`, () => decodeFails(() => decodeMethodResponse(body), message));
  }
});

describe('XML-RPC decoding is robust', () => {
  it('never expands entities: internal, external, or billion laughs', () => {
    const attacks = [
      '<!DOCTYPE methodCall [<!ENTITY x "expanded">]><methodCall><methodName>&x;</methodName></methodCall>',
      '<?xml version="1.0"?><!DOCTYPE methodCall [<!ENTITY x SYSTEM "file:///etc/passwd">]><methodCall><methodName>a</methodName><params><param><value>&x;</value></param></params></methodCall>',
      '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><methodCall><methodName>&lol2;</methodName></methodCall>',
      '<!doctype methodCall SYSTEM "http://example.com/x.dtd"><methodCall><methodName>a</methodName></methodCall>',
    ];
    for (const body of attacks) decodeFails(() => decodeMethodCall(body), 'a DOCTYPE is not allowed');
    decodeFails(
      () => decodeMethodCall(call('&x;')),
      'not well-formed XML: Invalid character entity (line 1, column 63)',
    );
  });

  it('survives deep nesting of any element without overflowing the stack', () => {
    const n = 10_000;
    decodeFails(
      () =>
        decodeMethodCall(call(`${'<array><data><value>'.repeat(n)}${'</value></data></array>'.repeat(n)}`)),
      `parameter 1: values nested deeper than ${XML_RPC_MAX_DEPTH}`,
    );
    decodeFails(
      () => decodeMethodCall(`<methodCall>${'<a>'.repeat(n)}${'</a>'.repeat(n)}</methodCall>`),
      '<methodCall> holds an unexpected <a>',
    );
  });

  it('throws only XmlRpcDecodeError, for any input', () => {
    const valid = encodeMethodCall('one.backupjob.update', ['s', 1, 'T="v"', [1, 2], { a: [null, 1.5] }]);
    const inputs: unknown[] = [
      undefined,
      null,
      42,
      {},
      [],
      Buffer.from('x'),
      '\u0000',
      '\uFEFF',
      '<',
      '<<<>>>',
      '<?xml?>',
      '<!---->',
    ];
    for (let i = 0; i <= valid.length; i++) inputs.push(valid.slice(0, i), valid.slice(i));
    // Deterministic mutations: each position replaced by markup characters.
    for (let i = 0; i < valid.length; i += 5) {
      for (const ch of ['<', '>', '&', '/', '"', '\u0000', '\uD800', ']]>', '<!--']) {
        inputs.push(valid.slice(0, i) + ch + valid.slice(i + 1));
      }
    }
    let seed = 1;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const alphabet = [
      '<',
      '>',
      '/',
      'value',
      'array',
      'data',
      'struct',
      'member',
      'name',
      'i4',
      '1',
      'x',
      '&amp;',
      '&',
      ' ',
      '\n',
      '<![CDATA[',
      ']]>',
      '<!--',
      '-->',
      '=',
      '"',
    ];
    for (let i = 0; i < 1000; i++) {
      let s = rand() < 0.5 ? '<methodCall><methodName>m</methodName><params><param><value>' : '';
      const len = Math.floor(rand() * 40);
      for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      inputs.push(s);
    }
    let decoded = 0;
    for (const input of inputs) {
      for (const decode of [decodeMethodCall, decodeMethodResponse] as const) {
        try {
          decode(input as string);
          decoded++;
        } catch (err) {
          if (!(err instanceof XmlRpcDecodeError)) {
            assert.fail(`${JSON.stringify(input)} threw ${String(err)}`);
          }
        }
      }
    }
    assert.ok(decoded > 0, 'some inputs are still valid');
  });

  it('describes non-string input', () => {
    decodeFails(() => decodeMethodCall(undefined as unknown as string), 'the body is a undefined, not text');
    decodeFails(
      () => decodeMethodResponse(Buffer.from('x') as unknown as string),
      'the body is a object, not text',
    );
  });
});
