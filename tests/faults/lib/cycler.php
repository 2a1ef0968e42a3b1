<?php
// One long-lived PHP process running session cycles in a loop through one of our three APIs,
// for the restart/outage scripts. Every cycle reads the session, checks it (integrity and "no
// acknowledged write lost"), and writes a new value; failures are timed and counted.
//
//   php -d extension=... cycler.php --api=native|handler|session --dsn=DSN --out=PREFIX
//       [--stop-file=F] [--max-seconds=60] [--slots=4] [--payload=2048] [--sleep-ms=2]
//   php -d extension=... cycler.php --verify --api=... --dsn=... --out=PREFIX
//
// Files: PREFIX.cycles (one line per cycle: start time, ms, ok|fail, slot, value, message),
// PREFIX.state (per slot: id, last acknowledged value, highest value attempted), PREFIX.summary
// (key=value). The native API needs session.save_handler=cannon and session.save_path=DSN.
declare(strict_types=1);

use Cannon\Session\Session;

$o = getopt('', ['api:', 'dsn:', 'out:', 'stop-file:', 'max-seconds:', 'slots:', 'payload:', 'sleep-ms:', 'verify', 'driver:']);
$api = $o['api'] ?? 'native';
$dsn = $o['dsn'] ?? '';
$out = $o['out'] ?? '/tmp/cycler';
$stopFile = $o['stop-file'] ?? '';
$maxSeconds = (float) ($o['max-seconds'] ?? 60);
$slots = (int) ($o['slots'] ?? 4);
$payloadLen = (int) ($o['payload'] ?? 2048);
$sleepUs = (int) (1000 * (float) ($o['sleep-ms'] ?? 2));
$verify = isset($o['verify']);
$mysql = str_starts_with($dsn, 'mysql');

ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');
ini_set('session.lazy_write', '0');

/** The data written as value $n: a payload that can be checked for integrity. */
function payload(int $n, int $len): array
{
    $blob = substr(str_repeat(hash('sha256', "value $n"), intdiv($len, 64) + 1), 0, $len);
    return ['n' => $n, 'blob' => $blob, 'sum' => sha1($blob)];
}

/** Checks data read back: null when fine, otherwise what is wrong. */
function problem(array $data, int $acked, int $attempted): ?string
{
    if ($data === []) {
        return $acked > 0 ? "LOST: session empty, value $acked was acknowledged" : null;
    }
    if (!isset($data['n'], $data['blob'], $data['sum']) || sha1((string) $data['blob']) !== $data['sum']) {
        return 'CORRUPT: payload does not match its checksum';
    }
    $n = (int) $data['n'];
    if ($n < $acked) {
        return "LOST: read value $n, value $acked was acknowledged";
    }
    if ($n > $attempted) {
        return "CORRUPT: read value $n that was never written (highest $attempted)";
    }
    return null;
}

$messages = [];
set_error_handler(function (int $no, string $msg) use (&$messages): bool {
    $messages[] = $msg;
    return true;
});

// --- the three APIs: begin() starts the session and returns [id, data]; end() writes -------
$session = null;
$handler = null;
if ($api === 'handler') {
    $handler = $mysql ? new Cannon\Session\DatabaseHandler($dsn) : new Cannon\Session\RedisHandler($dsn);
    session_set_save_handler($handler, false);
} elseif ($api === 'session') {
    $session = new Session(['session_dsn' => $dsn, 'session_cookie' => false]);
}

function begin(?string $id): array
{
    global $api, $session;
    if ($api === 'session') {
        $got = $session->start($id);
        return [$got, $session->data];
    }
    if (session_status() === PHP_SESSION_ACTIVE) {
        @session_abort();
    }
    session_id($id ?? '');
    if (!session_start()) {
        throw new RuntimeException('session_start() returned false');
    }
    return [session_id(), $_SESSION];
}

function end_(array $data): void
{
    global $api, $session;
    if ($api === 'session') {
        $session->data = $data;
        if ($session->close() !== true) {
            throw new RuntimeException('close() did not return true');
        }
        return;
    }
    $_SESSION = $data;
    if (!session_write_close()) {
        throw new RuntimeException('session_write_close() returned false');
    }
}

function cleanup(): void
{
    global $api, $session;
    try {
        if ($api === 'session') {
            if ($session->isStarted()) {
                $session->close();
            }
        } elseif (session_status() === PHP_SESSION_ACTIVE) {
            session_abort();
        }
    } catch (Throwable) {
    }
}

// --- state: per slot id, last acknowledged value, highest attempted value -----------------
$state = [];
if ($verify) {
    foreach (file("$out.state", FILE_IGNORE_NEW_LINES) ?: [] as $line) {
        [$slot, $id, $ack, $att] = explode(' ', $line);
        $state[(int) $slot] = ['id' => $id === '-' ? null : $id, 'acked' => (int) $ack, 'attempted' => (int) $att];
    }
    $bad = 0;
    $checked = 0;
    foreach ($state as $slot => $s) {
        if ($s['id'] === null) {
            continue;
        }
        $messages = [];
        try {
            [$got, $data] = begin($s['id']);
            cleanup();
            $p = $got !== $s['id'] ? ($s['acked'] > 0 ? "LOST: session {$s['id']} is gone" : null)
                : problem($data, $s['acked'], $s['attempted']);
        } catch (Throwable $e) {
            $p = 'ERROR: ' . get_class($e) . ': ' . $e->getMessage();
        }
        if ($p === null && $messages !== [] && $api !== 'session') {
            $p = 'WARNING: ' . implode(' | ', $messages);
        }
        $checked++;
        if ($p !== null) {
            $bad++;
            fwrite(STDERR, "verify slot $slot: $p\n");
        }
    }
    echo "verified=$checked bad=$bad\n";
    exit($bad === 0 && $checked > 0 ? 0 : 1);
}

for ($i = 0; $i < $slots; $i++) {
    $state[$i] = ['id' => null, 'acked' => 0, 'attempted' => 0];
}
$cycles = fopen("$out.cycles", 'w');
$acklog = fopen("$out.acked", 'w');
$c = ['cycles' => 0, 'ok' => 0, 'fail' => 0, 'lost' => 0, 'corrupt' => 0, 'warned' => 0, 'exceptions' => 0,
      'silent_fail' => 0, 'max_fail_ms' => 0.0, 'max_ok_ms' => 0.0, 'first_fail_at' => 0.0, 'last_fail_at' => 0.0,
      'ok_after_last_fail' => 0];
$t0 = microtime(true);
$n = 0;
$problems = [];

while (true) {
    $now = microtime(true);
    if ($now - $t0 > $maxSeconds || ($stopFile !== '' && file_exists($stopFile))) {
        break;
    }
    $slot = $c['cycles'] % $slots;
    $s = &$state[$slot];
    $messages = [];
    $error = null;
    $n++;
    $start = microtime(true);
    try {
        [$id, $data] = begin($s['id']);
        if ($s['id'] !== null && $id !== $s['id']) {
            $p = $s['acked'] > 0 ? "LOST: session {$s['id']} gone, got a new id" : null;
        } else {
            $p = problem($data, $s['acked'], $s['attempted']);
        }
        if ($p !== null) {
            $problems[] = "slot $slot: $p";
            $c[str_starts_with($p, 'LOST') ? 'lost' : 'corrupt']++;
        }
        $s['id'] = $id;
        $s['attempted'] = $n;
        end_(payload($n, $payloadLen));
        if ($messages !== []) {
            throw new RuntimeException('warning: ' . implode(' | ', $messages));
        }
        $s['acked'] = $n;
        fwrite($acklog, "$slot $id $n\n");
    } catch (Throwable $e) {
        $error = get_class($e) . ': ' . $e->getMessage();
        if ($messages !== []) {
            $error .= ' [warnings: ' . implode(' | ', $messages) . ']';
        }
        cleanup();
    }
    $ms = (microtime(true) - $start) * 1000;
    $c['cycles']++;
    if ($error === null) {
        $c['ok']++;
        $c['ok_after_last_fail']++;
        $c['max_ok_ms'] = max($c['max_ok_ms'], $ms);
    } else {
        $c['fail']++;
        $c['ok_after_last_fail'] = 0;
        $c['max_fail_ms'] = max($c['max_fail_ms'], $ms);
        $c['first_fail_at'] = $c['first_fail_at'] ?: $start - $t0;
        $c['last_fail_at'] = $start - $t0;
        if (isset($e) && !$e instanceof RuntimeException || str_contains($error, 'Cannon\\Session')) {
            $c['exceptions']++;
        }
        if ($messages !== []) {
            $c['warned']++;
        }
        if ($messages === [] && !str_contains($error, 'Cannon\\Session')) {
            $c['silent_fail']++;
        }
    }
    fprintf($cycles, "%.3f %.1f %s %d %d %s\n", $start - $t0, $ms, $error === null ? 'ok' : 'fail', $slot, $n,
        str_replace("\n", ' ', $error ?? ''));
    unset($s, $e);
    if ($sleepUs > 0) {
        usleep($sleepUs);
    }
}
cleanup();
$fh = fopen("$out.state", 'w');
foreach ($state as $slot => $s) {
    fwrite($fh, sprintf("%d %s %d %d\n", $slot, $s['id'] ?? '-', $s['acked'], $s['attempted']));
}
$c['seconds'] = round(microtime(true) - $t0, 2);
$c['t0'] = sprintf('%.3f', $t0);
$c['max_fail_ms'] = round($c['max_fail_ms'], 1);
$c['max_ok_ms'] = round($c['max_ok_ms'], 1);
$c['first_fail_at'] = round($c['first_fail_at'], 3);
$c['last_fail_at'] = round($c['last_fail_at'], 3);
$lines = [];
foreach ($c as $k => $v) {
    $lines[] = "$k=$v";
}
foreach (array_slice($problems, 0, 20) as $p) {
    $lines[] = "problem=$p";
}
file_put_contents("$out.summary", implode("\n", $lines) . "\n");
echo implode(' ', array_slice($lines, 0, count($c))), "\n";
