<?php
// One benchmark process: full session cycles for one contender, over a pool of K ids round robin.
//
//   php [-d extension=...cannon.so] [-d session.* ...] bench/cycle.php --contender=NAME
//       [--mode=write|read] [--payload=1024] [--pool=1000] [--seconds=1.0 | --cycles=N]
//       [--warmup=200] [--sync] [--rss-every=N]
//   environment: BENCH_CTX = JSON with redis/mysql addresses and a temp dir (see BenchCtx)
//
// A cycle: session_id($id); session_start(); read counter + payload; in write mode change the
// counter and the payload; session_write_close(). In read mode nothing changes, so ext/session
// takes the lazy-write path (updateTimestamp). Every read is checked against the value this
// process expects (it is the only writer of its pool): a lost write or a failed read is counted
// as "bad", and any PHP warning as an error, so a fast but broken handler cannot win.
//
// Before timing, every id of the pool is written once (so the pool exists, with the payload
// size of this run; skipped when an earlier process left a state file, see below) and `warmup`
// cycles run. With --sync the process then prints READY and waits for a line on stdin, so the
// caller can snapshot server statistics around the timed part.
// Prints one JSON line: cycles, seconds, cycles/s, µs/cycle, bad, errors, RSS (kB).

declare(strict_types=1);

require __DIR__ . '/lib/contenders.php';

$opt = getopt('', ['contender:', 'mode:', 'payload:', 'pool:', 'seconds:', 'cycles:', 'warmup:', 'sync', 'rss-every:']);
$name = (string) ($opt['contender'] ?? '');
$mode = (string) ($opt['mode'] ?? 'write');
$payloadSize = (int) ($opt['payload'] ?? 1024);
$poolSize = max(1, (int) ($opt['pool'] ?? 1000));
$seconds = isset($opt['seconds']) ? (float) $opt['seconds'] : null;
$maxCycles = isset($opt['cycles']) ? (int) $opt['cycles'] : null;
$warmup = (int) ($opt['warmup'] ?? 200);
$sync = isset($opt['sync']);
$rssEvery = (int) ($opt['rss-every'] ?? 0);
if ($seconds === null && $maxCycles === null) {
    $seconds = 1.0;
}

function rss_kb(): int
{
    $s = @file_get_contents('/proc/self/status');
    return ($s !== false && preg_match('/^VmRSS:\s+(\d+)/m', $s, $m)) ? (int) $m[1] : -1;
}

function fail(string $msg): never
{
    fwrite(STDERR, "cycle.php: $msg\n");
    echo json_encode(['ok' => false, 'error' => $msg]), "\n";
    exit(1);
}

$rssStart = rss_kb();
$contenders = bench_contenders();
if (!isset($contenders[$name])) {
    fail("unknown contender '$name' (known: " . implode(', ', array_keys($contenders)) . ')');
}
if ($mode !== 'write' && $mode !== 'read') {
    fail("unknown mode '$mode' (write|read)");
}
$def = $contenders[$name];
$ctxJson = getenv('BENCH_CTX');
$ctxArr = is_string($ctxJson) ? json_decode($ctxJson, true) : null;
if (!is_array($ctxArr)) {
    fail('BENCH_CTX (JSON) is not set');
}
$ctxArr['payload'] = $payloadSize;
$ctx = BenchCtx::fromArray($ctxArr);

// The shared settings are also passed with -d by bench/run.php; set here too for runs by hand.
foreach (bench_common_ini() as $k => $v) {
    ini_set($k, $v);
}

// Warnings and notices are counted, not printed: stdout carries the result line only.
$errors = 0;
$firstError = null;
set_error_handler(function (int $no, string $str, string $file, int $line) use (&$errors, &$firstError): bool {
    if (!(error_reporting() & $no)) {
        return true; // silenced with @
    }
    $errors++;
    $firstError ??= "$str ($file:$line)";
    return true;
});

if (!empty($def['cannon']) && !class_exists(\Cannon\Session\Session::class)) {
    fail('the cannon_session extension is not loaded (-d extension=.../libcannon_session.so)');
}
if (!empty($def['symfony'])) {
    $autoload = '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';
    if (!is_file($autoload)) {
        fail("Symfony HttpFoundation not found ($autoload): install php-symfony-http-foundation");
    }
    require $autoload;
}
if ($def['store'] === 'files') {
    @mkdir($ctx->tmp . '/files-' . $payloadSize, 0700, true);
}

// Two payloads of the same size, alternated so every write cycle really changes the data.
$payloads = [str_repeat('a', $payloadSize), str_repeat('b', $payloadSize)];

// The pool and what this process expects to read for each id (the counter). A process that ends
// well leaves both in a state file, so the next process of the same contender and payload size
// skips re-writing the pool (slow for the MySQL contenders): its warm-up checks the state, and
// any mismatch sends it back to a full prepare. The Session API replaces unknown ids (strict
// mode), so its pool ids are created through the API; the others accept any well-formed id.
$stateFile = $ctx->tmp . "/state-$name-$payloadSize-$poolSize.json";
$state = is_file($stateFile) ? json_decode((string) file_get_contents($stateFile), true) : null;
@unlink($stateFile); // consumed: a process that fails must not leave a stale state behind
$ids = [];
$expect = [];
if (is_array($state) && count($state['ids'] ?? []) === $poolSize && count($state['expect'] ?? []) === $poolSize) {
    $ids = $state['ids'];
    $expect = $state['expect'];
}

try {
    if ($def['kind'] === 'handler') {
        $handler = ($def['handler'])($ctx);
        if (!session_set_save_handler($handler, false)) {
            fail('session_set_save_handler() failed');
        }
    }
    $api = null;
    if ($def['kind'] === 'api') {
        $api = new \Cannon\Session\Session(['session_dsn' => ($def['dsn'])($ctx), 'session_cookie' => '0']);
    }
} catch (\Throwable $e) {
    fail("setup of $name: " . get_class($e) . ': ' . $e->getMessage());
}

$bad = 0;

/** One cycle on pool index $k; $write: change the data. Returns false when the read was wrong. */
$cycle = function (int $k, bool $write) use (&$ids, &$expect, &$api, $payloads, $payloadSize): bool {
    $id = $ids[$k];
    if ($api !== null) {
        $api->start($id);
        $d = $api->data;
        $ok = ($d['counter'] ?? null) === $expect[$k] && strlen($d['payload'] ?? '') === $payloadSize
            && $api->getId() === $id;
        if ($write) {
            $c = $expect[$k] + 1;
            $api->data['counter'] = $c;
            $api->data['payload'] = $payloads[$c & 1];
            $expect[$k] = $c;
        }
        $api->close();
        return $ok;
    }
    session_id($id);
    if (!session_start()) {
        return false;
    }
    $ok = ($_SESSION['counter'] ?? null) === $expect[$k] && strlen($_SESSION['payload'] ?? '') === $payloadSize;
    if ($write) {
        $c = $expect[$k] + 1;
        $_SESSION['counter'] = $c;
        $_SESSION['payload'] = $payloads[$c & 1];
        $expect[$k] = $c;
    }
    session_write_close();
    return $ok;
};

/** Writes every id of the pool with counter 0 and this run's payload. */
$prepare = function () use (&$ids, &$expect, &$api, $poolSize, $payloads, &$firstError, $name, $payloadSize): void {
    $expect = array_fill(0, $poolSize, 0);
    if ($api !== null) {
        for ($k = 0; $k < $poolSize; $k++) {
            $api->start(null);
            $ids[$k] = $api->getId();
            $api->data = ['counter' => 0, 'payload' => $payloads[0]];
            $api->close();
        }
        return;
    }
    for ($k = 0; $k < $poolSize; $k++) {
        // Distinct per contender and payload size: the MySQL contenders share tables.
        $ids[$k] = sprintf('b%s%023d', substr(md5("$name/$payloadSize"), 0, 8), $k);
        session_id($ids[$k]);
        if (!session_start()) {
            fail("session_start() failed while preparing the pool ($firstError)");
        }
        $_SESSION = ['counter' => 0, 'payload' => $payloads[0]];
        session_write_close();
    }
};

/** Warm-up cycles (at most about 0.3 s); returns how many read unexpected data. */
$warm = function () use ($cycle, $warmup, $poolSize, $mode): int {
    $bad = 0;
    $t0 = hrtime(true);
    for ($i = 0; $i < $warmup; $i++) {
        if (!$cycle($i % $poolSize, $mode === 'write')) {
            $bad++;
        }
        if ($i >= 20 && hrtime(true) - $t0 > 300_000_000) {
            break;
        }
    }
    return $bad;
};

$write = $mode === 'write';
$prepared = false;
try {
    if ($ids === []) {
        $prepare();
        $prepared = true;
    }
    $bad = $warm();
    if ($bad > 0 && !$prepared) {
        $prepare();
        $bad = $warm();
    }
} catch (\Throwable $e) {
    fail("prepare of $name: " . get_class($e) . ': ' . $e->getMessage() . ($firstError ? " (first warning: $firstError)" : ''));
}
if ($bad > 0) {
    fail("$bad warm-up cycles read unexpected data" . ($firstError ? " (first warning: $firstError)" : ''));
}
$warmupErrors = $errors;

$rssReady = rss_kb();
if ($sync) {
    // Straight to the file descriptor: echo would count as output and "send the headers".
    fwrite(STDOUT, "READY\n");
    fflush(STDOUT);
    if (fgets(STDIN) === false) {
        exit(0);
    }
}

// The timed part.
$samples = [];
$n = 0;
$k = 0;
$limitNs = $seconds !== null ? (int) ($seconds * 1e9) : PHP_INT_MAX;
$limitN = $maxCycles ?? PHP_INT_MAX;
$exception = null;
$ru0 = getrusage();
$t0 = hrtime(true);
$elapsed = 0;
try {
    while ($n < $limitN && $elapsed < $limitNs) {
        if (!$cycle($k, $write)) {
            $bad++;
        }
        if (++$k === $poolSize) {
            $k = 0;
        }
        $n++;
        $elapsed = hrtime(true) - $t0;
        if ($rssEvery > 0 && $n % $rssEvery === 0) {
            $samples[] = [$n, rss_kb()];
        }
    }
} catch (\Throwable $e) {
    $exception = get_class($e) . ': ' . $e->getMessage();
    $elapsed = hrtime(true) - $t0;
}

$ru1 = getrusage();
$cpuUs = fn (array $r, string $w) => $r["ru_{$w}time.tv_sec"] * 1e6 + $r["ru_{$w}time.tv_usec"];
$userUs = $cpuUs($ru1, 'u') - $cpuUs($ru0, 'u');
$sysUs = $cpuUs($ru1, 's') - $cpuUs($ru0, 's');
$secs = $elapsed / 1e9;
$ok = $exception === null && $bad === 0 && $errors === 0;
if ($ok) {
    file_put_contents($stateFile, json_encode(['ids' => $ids, 'expect' => $expect]));
}
echo json_encode([
    'ok' => $ok,
    'prepared' => $prepared,
    'contender' => $name,
    'mode' => $mode,
    'payload' => $payloadSize,
    'cycles' => $n,
    'seconds' => round($secs, 6),
    'cps' => $secs > 0 ? round($n / $secs, 1) : 0,
    'us' => $n > 0 ? round($elapsed / 1e3 / $n, 2) : 0,
    'cpu_user_us' => $n > 0 ? round($userUs / $n, 2) : 0,
    'cpu_sys_us' => $n > 0 ? round($sysUs / $n, 2) : 0,
    'bad' => $bad,
    'errors' => $errors - $warmupErrors,
    'warmup_errors' => $warmupErrors,
    'first_error' => $firstError,
    'exception' => $exception,
    'rss_kb_start' => $rssStart,
    'rss_kb_ready' => $rssReady,
    'rss_kb_end' => rss_kb(),
    'rss_samples' => $samples,
]), "\n";
