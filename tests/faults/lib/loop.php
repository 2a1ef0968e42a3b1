<?php
// Session cycles in a tight loop, for valgrind and the RSS check: no logging, little PHP work.
//
//   php -d extension=... loop.php --api=native|handler|session|adapter|mixed|mixed-native
//       --dsn=DSN --cycles=N
//       [--rss-every=N]   print "rss CYCLE KB" every N cycles (from /proc/self/status)
//
// `mixed` (session_start() through the handler class) and `mixed-native` (through
// session.save_handler=cannon) go through the failure paths too: hostile ids, corrupt stored data, an unreachable
// backend, regenerate, destroy, gc, strict mode, phpinfo(). Prints "done N ok F failed" at the end.
declare(strict_types=1);

use Cannon\Session\Adapter;
use Cannon\Session\RedisHandler;
use Cannon\Session\Session;

$o = getopt('', ['api:', 'dsn:', 'cycles:', 'rss-every:', 'dead-dsn:']);
$api = $o['api'] ?? 'native';
$dsn = $o['dsn'] ?? '';
$cycles = (int) ($o['cycles'] ?? 1000);
$rssEvery = (int) ($o['rss-every'] ?? 0);
$deadDsn = $o['dead-dsn'] ?? 'redis://127.0.0.1:1/0?connect_timeout=0.2';

ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');

function rss(): int
{
    preg_match('/VmRSS:\s+(\d+)/', (string) file_get_contents('/proc/self/status'), $m);
    return (int) ($m[1] ?? 0);
}

$ok = 0;
$failed = 0;
set_error_handler(function () use (&$failed): bool {
    return true;
});

$mysql = str_starts_with($dsn, 'mysql');
$handlerClass = $mysql ? Cannon\Session\DatabaseHandler::class : RedisHandler::class;
if ($api === 'handler' || $api === 'mixed') {
    session_set_save_handler(new $handlerClass($dsn), false);
}
$session = new Session(['session_dsn' => $dsn, 'session_cookie' => false]);
$adapter = new Adapter($dsn);
$raw = new $handlerClass($dsn);
$ids = [];

function native_cycle(?string $id, int $i): ?string
{
    session_id($id ?? '');
    if (!session_start()) {
        return null;
    }
    $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
    $_SESSION['s'] = str_repeat('x', $i % 300);
    $_SESSION['a'] = ['k' => [$i, 1.5, true, null]];
    $id = session_id();
    return session_write_close() ? $id : null;
}

for ($i = 0; $i < $cycles; $i++) {
    $slot = $i % 8;
    try {
        switch ($api) {
            case 'native':
            case 'handler':
                $ids[$slot] = native_cycle($ids[$slot] ?? null, $i);
                $ids[$slot] === null ? $failed++ : $ok++;
                break;
            case 'session':
                $id = $session->start($ids[$slot] ?? null);
                $session->data['n'] = ($session->data['n'] ?? 0) + 1;
                $session->data['o'] = new ArrayObject([$i]);
                $session->data['b'] = random_bytes(1 + $i % 64);
                $session->close();
                $ids[$slot] = $id;
                $ok++;
                break;
            case 'adapter':
                $id = 'adapter' . str_repeat('x', 20) . $slot;
                $d = $adapter->read($id);
                $d['n'] = ($d['n'] ?? 0) + 1;
                $d['f'] = [1.25, 'two' => 'zwei'];
                $adapter->write($id, $d);
                $ok++;
                break;
            case 'mixed':
            case 'mixed-native':
                switch ($i % 12) {
                    case 0: // hostile ids, every API
                        foreach (["../../etc/passwd", "a\0b", str_repeat('z', 300), "*", "{x}", "a\r\nb", "' OR 1=1 --", "caf\u{e9}"] as $bad) {
                            try { session_id($bad); @session_start(); } catch (Throwable) {}
                            if (session_status() === PHP_SESSION_ACTIVE) { @session_abort(); }
                            try { $adapter->read($bad); } catch (Throwable) {}
                            try { $session->start($bad); $session->close(); } catch (Throwable) {}
                        }
                        break;
                    case 1: // corrupt stored data (the DSN names the prefix, so the raw
                        // handler and the adapter share keys)
                        $cid = 'corrupt' . str_repeat('c', 20);
                        $raw->write($cid, ['garbage', 'a:1:{i:0;O:8:"stdClass":1:{', random_bytes(40)][$i % 3]);
                        try { $adapter->read($cid); } catch (Throwable) {}
                        try { $session->start($cid); $session->close(); } catch (Throwable) {}
                        break;
                    case 2: // an unreachable backend, all three APIs
                        try { (new RedisHandler($deadDsn))->read(str_repeat('d', 26)); } catch (Throwable) {}
                        try { (new Session($deadDsn))->start(); } catch (Throwable) {}
                        try { (new Adapter($deadDsn))->write(str_repeat('d', 26), ['a' => 1]); } catch (Throwable) {}
                        break;
                    case 3: // bad configuration
                        try { new RedisHandler('redis://:secret@127.0.0.1:70000'); } catch (Throwable) {}
                        try { new Session(['session_driver' => 'nope']); } catch (Throwable) {}
                        try { new Adapter('mysql://u:p@h/db?table=x\'y'); } catch (Throwable) {}
                        break;
                    case 4: // regenerate, destroy, gc
                        $id = $session->start();
                        $session->data['r'] = $i;
                        $session->regenerate();
                        $session->destroy();
                        $session->gc();
                        break;
                    case 5: // strict mode with an unknown id, then regenerate + destroy natively
                        ini_set('session.use_strict_mode', '1');
                        session_id(str_repeat('u', 32));
                        if (session_start()) {
                            session_regenerate_id(true);
                            session_destroy();
                        }
                        ini_set('session.use_strict_mode', '0');
                        break;
                    case 6: // read_and_close, lazy write
                        session_id($ids[0] ?? '');
                        @session_start(['read_and_close' => true]);
                        session_id($ids[0] ?? '');
                        if (@session_start()) { session_write_close(); }
                        break;
                    case 7:
                        if ($i % 120 === 7) { ob_start(); phpinfo(INFO_MODULES); ob_end_clean(); }
                        $session->start(null, true);
                        $session->close();
                        break;
                    default:
                        $ids[$slot] = native_cycle($ids[$slot] ?? null, $i);
                }
                $ok++;
                break;
        }
    } catch (Throwable $e) {
        $failed++;
        if (getenv('LOOP_DEBUG')) {
            fwrite(STDERR, "cycle $i: " . get_class($e) . ': ' . $e->getMessage() . "\n");
        }
        if (session_status() === PHP_SESSION_ACTIVE) {
            @session_abort();
        }
    }
    if ($rssEvery > 0 && $i % $rssEvery === 0) {
        echo "rss $i ", rss(), "\n";
    }
}
if ($rssEvery > 0) {
    echo "rss $cycles ", rss(), "\n";
}
echo "done $cycles $ok ok $failed failed\n";
