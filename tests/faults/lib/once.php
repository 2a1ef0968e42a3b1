<?php
// Runs a few session cycles (start, change, write, close) through one API and reports each one:
// whether it worked, how long it took, and what the application saw (return value, warnings,
// exception class and message). For the slow/silent/cut backend scripts.
//
//   php -d extension=... once.php --api=native|handler|session --dsn=DSN [--cycles=3]
//       [--payload=BYTES] [--id=ID] [--read-only] [--expect-n=N]
// Output lines: "cycle I ok|fail MS CLASS: MESSAGE", then "summary ok=.. fail=.. max_ms=.. n=.."
// (n: the counter the last successful read found). With --read-only nothing is written.
declare(strict_types=1);

use Cannon\Session\Session;

$o = getopt('', ['api:', 'dsn:', 'cycles:', 'payload:', 'id:', 'read-only', 'prefix:']);
$api = $o['api'] ?? 'native';
$dsn = $o['dsn'] ?? '';
$cycles = (int) ($o['cycles'] ?? 3);
$payload = (int) ($o['payload'] ?? 100);
$id = $o['id'] ?? null;
$readOnly = isset($o['read-only']);
$mysql = str_starts_with($dsn, 'mysql');

ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');
ini_set('session.lazy_write', '0');

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings): bool {
    $warnings[] = $msg;
    return true;
});

$session = null;
try {
    if ($api === 'handler') {
        session_set_save_handler($mysql ? new Cannon\Session\DatabaseHandler($dsn) : new Cannon\Session\RedisHandler($dsn), false);
    } elseif ($api === 'session') {
        $session = new Session(['session_dsn' => $dsn, 'session_cookie' => false]);
    }
} catch (Throwable $e) {
    echo 'construct fail ', get_class($e), ': ', $e->getMessage(), "\n";
    echo "summary ok=0 fail=1 max_ms=0 n=-1\n";
    exit(0);
}

$ok = $fail = 0;
$maxMs = 0.0;
$lastN = -1;
for ($i = 0; $i < $cycles; $i++) {
    $warnings = [];
    $err = null;
    $t = microtime(true);
    try {
        if ($api === 'session') {
            $got = $session->start($id);
            if ($id !== null && $got !== $id) {
                throw new RuntimeException("start() gave a new id: session $id not found");
            }
            $id = $got;
            $data = $session->data;
        } else {
            session_id($id ?? '');
            if (!session_start()) {
                throw new RuntimeException('session_start() returned false');
            }
            $id = session_id();
            $data = $_SESSION;
        }
        if (isset($data['blob']) && sha1($data['blob']) !== ($data['sum'] ?? '')) {
            throw new RuntimeException('CORRUPT: the data read does not match its checksum');
        }
        $lastN = (int) ($data['n'] ?? 0);
        $new = ['n' => $lastN + 1, 'blob' => str_repeat(chr(65 + $i % 26), $payload)];
        $new['sum'] = sha1($new['blob']);
        if ($api === 'session') {
            if ($readOnly) {
                $session->close();
            } else {
                $session->data = $new;
                $session->close();
            }
        } else {
            if ($readOnly) {
                session_abort();
            } else {
                $_SESSION = $new;
                if (!session_write_close()) {
                    throw new RuntimeException('session_write_close() returned false');
                }
            }
        }
        if ($warnings !== []) {
            throw new RuntimeException('warning without failure');
        }
    } catch (Throwable $e) {
        $err = get_class($e) . ': ' . $e->getMessage();
        try {
            if ($api !== 'session' && session_status() === PHP_SESSION_ACTIVE) {
                session_abort();
            }
        } catch (Throwable) {
        }
    }
    $ms = (microtime(true) - $t) * 1000;
    $maxMs = max($maxMs, $ms);
    if ($warnings !== []) {
        $err = ($err ?? '') . ' [warnings: ' . implode(' | ', $warnings) . ']';
    }
    $err === null ? $ok++ : $fail++;
    printf("cycle %d %s %.1f %s\n", $i, $err === null ? 'ok' : 'fail', $ms, str_replace("\n", ' ', (string) $err));
}
printf("summary ok=%d fail=%d max_ms=%.1f n=%d id=%s\n", $ok, $fail, $maxMs, $lastN, $id ?? '-');
