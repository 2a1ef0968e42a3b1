<?php

// End-to-end run of the demo app:
//   1. start `php -d extension=EXT -S 127.0.0.1:PORT -t demo/public demo/public/index.php`
//   2. GET /            -> stores ['666' => 123] in the session, answers with Set-Cookie
//   3. GET /update/42   -> sends that cookie back, must print the stored `666 => 123`
//   4. stop the server
// Usage: php demo/run.php [/path/to/libcannon_session.so]   (or env CANNON_EXT)
// This client needs no extension: it speaks HTTP over a plain stream socket. Exit 0 = success.

declare(strict_types=1);

const START_TIMEOUT = 10.0;   // seconds for the server to accept connections
const REQUEST_TIMEOUT = 15.0; // seconds for one whole HTTP exchange

$root = dirname(__DIR__);
$ext = $argv[1] ?? (getenv('CANNON_EXT') ?: $root . '/target/release/libcannon_session.so');
if (!is_file($ext)) {
    fwrite(STDERR, "demo: extension not found: $ext (run `make build` first)\n");
    exit(1);
}

$server = null;
$logDir = sys_get_temp_dir() . '/cannon-demo-' . getmypid();
@mkdir($logDir, 0700, true);
$outLog = "$logDir/server.out";
$errLog = "$logDir/server.err";

function fail(string $msg): never
{
    global $errLog, $outLog;
    fwrite(STDERR, "demo: FAILED: $msg\n");
    foreach (['stderr' => $errLog, 'stdout' => $outLog] as $name => $file) {
        $text = is_file($file) ? (string) file_get_contents($file) : '';
        if (trim($text) !== '') {
            fwrite(STDERR, "---- server $name ----\n" . $text . "---- end ----\n");
        }
    }
    exit(1);
}

function stopServer(): void
{
    global $server;
    if (!is_resource($server)) {
        return;
    }
    proc_terminate($server, 15);
    $deadline = microtime(true) + 3.0;
    while (proc_get_status($server)['running'] && microtime(true) < $deadline) {
        usleep(20000);
    }
    if (proc_get_status($server)['running']) {
        proc_terminate($server, 9);
    }
    proc_close($server);
    $server = null;
}

register_shutdown_function(static function () use ($logDir, $outLog, $errLog): void {
    stopServer();
    @unlink($outLog);
    @unlink($errLog);
    @rmdir($logDir);
});

function freePort(): int
{
    $sock = stream_socket_server('tcp://127.0.0.1:0', $errno, $errstr);
    if ($sock === false) {
        fail("cannot bind a loopback port: $errstr");
    }
    $name = stream_socket_get_name($sock, false);
    fclose($sock);
    return (int) substr((string) $name, strrpos((string) $name, ':') + 1);
}

/** @return array{status:string, headers:list<string>, body:string} */
function httpGet(int $port, string $path, ?string $cookie = null): array
{
    $sock = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 5.0);
    if ($sock === false) {
        fail("connect to 127.0.0.1:$port: $errstr");
    }
    $req = "GET $path HTTP/1.0\r\nHost: 127.0.0.1:$port\r\nConnection: close\r\n";
    if ($cookie !== null) {
        $req .= "Cookie: $cookie\r\n";
    }
    fwrite($sock, $req . "\r\n");

    stream_set_blocking($sock, false);
    $raw = '';
    $deadline = microtime(true) + REQUEST_TIMEOUT;
    while (!feof($sock)) {
        $left = $deadline - microtime(true);
        if ($left <= 0) {
            fclose($sock);
            fail("GET $path: no complete answer within " . REQUEST_TIMEOUT . ' s');
        }
        $r = [$sock];
        $w = $e = null;
        if (stream_select($r, $w, $e, 0, (int) min(200000, $left * 1e6)) > 0) {
            $raw .= (string) fread($sock, 65536);
        }
    }
    fclose($sock);

    $split = strpos($raw, "\r\n\r\n");
    if ($split === false) {
        fail("GET $path: malformed answer: " . var_export($raw, true));
    }
    $lines = explode("\r\n", substr($raw, 0, $split));
    return ['status' => (string) array_shift($lines), 'headers' => $lines, 'body' => substr($raw, $split + 4)];
}

function show(string $what, array $resp): void
{
    echo "==> $what\n", $resp['status'], "\n";
    foreach ($resp['headers'] as $h) {
        if (stripos($h, 'Set-Cookie:') === 0) {
            echo $h, "\n";
        }
    }
    echo "\n", rtrim($resp['body']), "\n\n";
}

// --- start the server (retry on the small chance that the free port was taken meanwhile) ------
$port = 0;
for ($attempt = 1; $attempt <= 3 && $server === null; $attempt++) {
    $port = freePort();
    $cmd = [
        PHP_BINARY, '-d', "extension=$ext", '-d', 'display_errors=1', '-d', 'log_errors=1',
        '-S', "127.0.0.1:$port", '-t', "$root/demo/public", "$root/demo/public/index.php",
    ];
    $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', $outLog, 'w'], 2 => ['file', $errLog, 'w']], $pipes, $root);
    if (!is_resource($proc)) {
        fail('proc_open of the PHP built-in server failed');
    }
    $server = $proc;
    $deadline = microtime(true) + START_TIMEOUT;
    $ready = false;
    while (microtime(true) < $deadline) {
        if (!proc_get_status($server)['running']) {
            break;
        }
        $probe = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 0.5);
        if ($probe !== false) {
            fclose($probe);
            $ready = true;
            break;
        }
        usleep(100000);
    }
    if (!$ready) {
        $exited = !proc_get_status($server)['running'];
        stopServer();
        if (!$exited || $attempt === 3) {
            fail($exited ? 'the PHP built-in server exited at start-up' : 'the PHP built-in server did not accept connections within ' . START_TIMEOUT . ' s');
        }
    }
}
echo "demo: server on http://127.0.0.1:$port (pid ", proc_get_status($server)['pid'], ")\n\n";

// --- GET / -------------------------------------------------------------------------------------
$first = httpGet($port, '/');
show('GET /', $first);
if (!preg_match('#^HTTP/1\.[01] 200\b#', $first['status'])) {
    fail('GET / did not answer 200');
}
$cookies = [];
foreach ($first['headers'] as $h) {
    if (preg_match('/^Set-Cookie:\s*([^=;\s]+)=([^;]*)/i', $h, $m)) {
        $cookies[$m[1]] = $m[2];
    }
}
if (!isset($cookies['cannon_session'])) {
    fail('GET / sent no Set-Cookie for cannon_session');
}
if (preg_match('/in session (\S+)/', $first['body'], $m) && $m[1] !== rawurldecode($cookies['cannon_session'])) {
    fail("the cookie's session id ({$cookies['cannon_session']}) is not the id the page used ({$m[1]})");
}

// --- GET /update/42 with the cookie -------------------------------------------------------------
$cookieHeader = implode('; ', array_map(static fn ($k, $v) => "$k=$v", array_keys($cookies), $cookies));
$second = httpGet($port, '/update/42', $cookieHeader);
show("GET /update/42 (Cookie: $cookieHeader)", $second);
if (!preg_match('#^HTTP/1\.[01] 200\b#', $second['status'])) {
    fail('GET /update/42 did not answer 200');
}
if (!str_contains($second['body'], '666 => 123')) {
    fail('GET /update/42 did not read back 666 => 123 from the session');
}

stopServer();
echo "demo: OK (the second request read back what the first one stored)\n";
exit(0);
