<?php
// Hostile input through every API, for tests/faults/bad_input.sh. One mode per run:
//
//   php -d extension=... bad_input.php --mode=ids --dsn=DSN [--seed=N]
//       hostile and random-byte session ids through the native handler, the handler class,
//       Session and Adapter: nothing crashes, no id is ever used (the caller audits the store)
//   php -d extension=... bad_input.php --mode=corrupt --dsn=DSN [--seed=N] [--count=N]
//       random and mutated stored bytes read through Session and Adapter: CorruptDataException
//       or an array; with cannon_session.allowed_classes=0 (or a list without the class) no
//       object of a forbidden class is ever created (a canary counts constructions, wakeups,
//       destructions)
//   php -d extension=... bad_input.php --mode=maxsize --dsn=DSN   (the DSN sets max_size)
//       payloads of exactly max_size bytes are stored, max_size + 1 refused with a message
//       naming max_size, and the old data is left as it was
//   php -d extension=... bad_input.php --mode=dsn --secret=S
//       bad DSNs for every field through every entry point: a ConfigException (a warning and
//       false for the native handler) naming the field, never the password
//
// Prints "  ok   ..." / "  FAIL ..." lines and ends with "N passed, M failed".
declare(strict_types=1);

use Cannon\Session\Adapter;
use Cannon\Session\ConfigException;
use Cannon\Session\CorruptDataException;
use Cannon\Session\DatabaseHandler;
use Cannon\Session\RedisHandler;
use Cannon\Session\Session;
use Cannon\Session\SessionException;

$o = getopt('', ['mode:', 'dsn:', 'seed:', 'count:', 'secret:']);
$mode = $o['mode'] ?? '';
$dsn = $o['dsn'] ?? '';
mt_srand((int) ($o['seed'] ?? 1));
$mysql = str_starts_with($dsn, 'mysql');
$handlerClass = $mysql ? DatabaseHandler::class : RedisHandler::class;

ini_set('session.use_cookies', '0');
ini_set('session.use_only_cookies', '0');
ini_set('session.use_strict_mode', '0');
ini_set('session.cache_limiter', '');
ini_set('session.gc_probability', '0');

// PHP CLI counts output as "headers sent", after which session_set_save_handler() and
// session_start() refuse to work: hold the report until the end.
ob_start();
$passed = 0;
$failed = 0;
function check(bool $ok, string $what): void
{
    global $passed, $failed;
    $ok ? $passed++ : $failed++;
    echo $ok ? '  ok   ' : '  FAIL ', str_replace(["\r", "\n", "\0"], ['\r', '\n', '\0'], $what), "\n";
}

$warnings = [];
set_error_handler(function (int $no, string $msg) use (&$warnings): bool {
    $warnings[] = $msg;
    return true;
});

function rand_bytes(int $max): string
{
    $n = mt_rand(0, $max);
    $s = '';
    for ($i = 0; $i < $n; $i++) {
        $s .= chr(mt_rand(0, 255));
    }
    return $s;
}

function show(string $s): string
{
    $s = strlen($s) > 40 ? substr($s, 0, 40) . '…(' . strlen($s) . ')' : $s;
    return json_encode($s, JSON_INVALID_UTF8_SUBSTITUTE | JSON_UNESCAPED_SLASHES) ?: '?';
}

// ------------------------------------------------------------------------------------------
if ($mode === 'ids') {
    $hostile = [
        '../../etc/passwd', '..\\..\\windows', "abc\0def", "\0", str_repeat('a', 300), str_repeat('b', 257),
        '*', 'abc*', '{tag}', 'a{b}c', "a\r\nb", "\r\n", "a\nSET x y", "' OR '1'='1", '"; DROP TABLE x; --',
        "a'b", 'a`b', 'café', '日本語のセッション', "\xff\xfe\xfd", '', ' ', 'abc def', 'a:b', 'a/b', '%00', '${x}',
        'a;b', 'a|b', str_repeat('é', 200), "\t", 'a.b', 'a_b',
    ];
    for ($i = 0; $i < 150; $i++) {
        $hostile[] = rand_bytes(400);
    }
    // Only ids that are not [A-Za-z0-9,-]{1,256}: a valid random one would be a legal id.
    $hostile = array_values(array_filter($hostile, fn ($id) => !preg_match('/^[A-Za-z0-9,-]{1,256}$/D', $id)));

    $counts = ['native' => [0, 0], 'handler' => [0, 0], 'session' => [0, 0], 'adapter' => [0, 0]];
    $bad = [];
    $session = new Session(['session_dsn' => $dsn, 'session_cookie' => false]);
    $adapter = new Adapter($dsn);
    $handler = new $handlerClass($dsn);
    foreach (['native', 'handler'] as $api) {
        if ($api === 'handler') {
            session_set_save_handler($handler, false);
        }
        foreach ($hostile as $id) {
            $warnings = [];
            try {
                @session_id($id);
                $ok = session_start();
                $got = session_id();
                if ($ok) {
                    // PHP replaced the id itself (illegal characters): a fresh id of ours is fine.
                    $_SESSION['x'] = 1;
                    session_write_close();
                    if ($got === $id) {
                        $bad[] = "$api adopted " . show($id);
                    }
                }
                $counts[$api][$ok ? 0 : 1]++;
            } catch (Throwable $e) {
                $counts[$api][1]++;
                if (!$e instanceof SessionException && !$e instanceof Error) {
                    $bad[] = "$api: " . get_class($e) . ' for ' . show($id);
                }
            }
            if (session_status() === PHP_SESSION_ACTIVE) {
                @session_abort();
            }
        }
    }
    foreach ($hostile as $id) {
        // Session::start() never throws for a bad id: it starts a fresh session.
        try {
            $got = $session->start($id);
            $session->data['x'] = 1;
            $session->close();
            $counts['session'][0]++;
            if ($got === $id || !preg_match('/^[A-Za-z0-9,-]{22,256}$/D', $got)) {
                $bad[] = 'session started with ' . show($got) . ' for ' . show($id);
            }
        } catch (Throwable $e) {
            $counts['session'][1]++;
            $bad[] = 'session: ' . get_class($e) . ': ' . $e->getMessage() . ' for ' . show($id);
        }
        foreach (['read' => fn () => $adapter->read($id), 'write' => fn () => $adapter->write($id, ['x' => 1]),
                  'destroy' => fn () => $adapter->destroy($id)] as $op => $f) {
            try {
                $f();
                $bad[] = "adapter $op accepted " . show($id);
                $counts['adapter'][0]++;
            } catch (SessionException $e) {
                $counts['adapter'][1]++;
                if (!str_contains($e->getMessage(), 'invalid session id')) {
                    $bad[] = "adapter $op: unclear message {$e->getMessage()}";
                }
            } catch (Throwable $e) {
                $bad[] = "adapter $op: " . get_class($e) . ' for ' . show($id);
            }
        }
        foreach (['read', 'write', 'destroy', 'validateId', 'updateTimestamp'] as $m) {
            try {
                $r = match ($m) {
                    'read' => $handler->read($id), 'write' => $handler->write($id, 'x|i:1;'),
                    'destroy' => $handler->destroy($id), 'validateId' => $handler->validateId($id),
                    'updateTimestamp' => $handler->updateTimestamp($id, ''),
                };
                if ($m !== 'validateId' || $r !== false) {
                    $bad[] = "handler->$m accepted " . show($id);
                }
            } catch (SessionException) {
            } catch (Throwable $e) {
                $bad[] = "handler->$m: " . get_class($e) . ' for ' . show($id);
            }
        }
    }
    $n = count($hostile);
    foreach ($counts as $api => [$ok, $fail]) {
        check($ok + $fail > 0, "$api: $n hostile ids: $ok got a fresh id (PHP or we replaced it), $fail refused, none crashed");
    }
    check($bad === [], 'no hostile id was adopted, every refusal was a SessionException' . ($bad ? ': ' . implode('; ', array_slice($bad, 0, 5)) : ''));
}

// ------------------------------------------------------------------------------------------
if ($mode === 'corrupt') {
    $count = (int) ($o['count'] ?? 300);
    eval(<<<'PHP'
        final class Canary
        {
            public static int $events = 0;
            public $v = 1;
            public function __construct() { self::$events++; }
            public function __wakeup(): void { self::$events++; }
            public function __unserialize(array $d): void { self::$events++; }
            public function __destruct() { self::$events++; }
        }
        final class CustomCanary implements Serializable
        {
            public function serialize(): string { return 'x'; }
            public function unserialize(string $d): void { Canary::$events++; }
            public function __serialize(): array { return []; }
            public function __unserialize(array $d): void { Canary::$events++; }
        }
        PHP);
    // The raw handler writes bytes under the same key the Session/Adapter use (same prefix).
    $raw = new $handlerClass($dsn);
    $valid = serialize(['a' => 1, 'o' => new ArrayObject([1, 2]), 'c' => [new stdClass(), 'x' => [1.5, true, null]],
        's' => "bin\0ary", 'n' => -42]);
    Canary::$events = 0;
    $canary = str_replace(['O:11:"ArrayObject"', 'O:8:"stdClass"'], ['O:6:"Canary"', 'O:6:"Canary"'], $valid);
    $canary = preg_replace('/C:11:"ArrayObject".*?\}\}/', 'O:6:"Canary":0:{}', $canary) ?? $canary;
    $inputs = [
        ['canary', 'a:2:{i:0;O:6:"Canary":1:{s:1:"v";i:2;}i:1;O:6:"Canary":0:{}}'],
        ['custom', 'a:1:{i:0;C:12:"CustomCanary":1:{x}}'],
        ['object, not array', 'O:6:"Canary":0:{}'],
        ['reference to object', 'a:2:{i:0;O:6:"Canary":0:{}i:1;r:2;}'],
        ['enum', 'a:1:{i:0;E:7:"Foo:Bar";}'],
        ['huge count', 'a:999999999:{}'],
        ['huge string', 's:999999999:"x";'],
        ['deep', str_repeat('a:1:{i:0;', 5000) . 'i:1;' . str_repeat('}', 5000)],
        ['NAN', 'a:1:{i:0;d:NAN;}'],
        ['big int', 'a:1:{i:0;i:99999999999999999999999;}'],
        ['empty', ''],
        ['json', '{"a":1}'],
        ['serialized false', 'b:0;'],
        ['mutated valid', $canary],
    ];
    for ($i = 0; $i < intdiv($count, 3); $i++) {
        $inputs[] = ['random', rand_bytes(300)];
    }
    for ($i = 0; $i < $count - intdiv($count, 3); $i++) {
        $m = $canary;
        switch (mt_rand(0, 3)) {
            case 0: $m = substr($m, 0, mt_rand(0, strlen($m))); break;
            case 1: for ($k = mt_rand(1, 4); $k > 0; $k--) { $m[mt_rand(0, strlen($m) - 1)] = chr(mt_rand(32, 126)); } break;
            case 2: $p = mt_rand(0, strlen($m)); $m = substr($m, 0, $p) . substr($m, mt_rand(0, strlen($m))); break;
            case 3: $m = substr($m, 0, mt_rand(0, strlen($m))) . 'O:6:"Canary":0:{}' . substr($m, mt_rand(0, strlen($m))); break;
        }
        $inputs[] = ['mutated', $m];
    }

    $allowed = ini_get('cannon_session.allowed_classes');
    $forbidden = !in_array(strtolower(trim((string) $allowed)), ['1', 'true', 'on', 'all'], true)
        && !in_array('canary', array_map('strtolower', array_map('trim', explode(',', (string) $allowed))), true);
    $serializer = ini_get('cannon_session.serializer') ?: 'php';
    $stats = ['corrupt' => 0, 'array' => 0, 'other' => 0, 'objects' => 0, 'incomplete' => 0];
    $bad = [];
    $objectsIn = function ($v) use (&$objectsIn, &$stats, $forbidden, &$bad): void {
        if (is_object($v)) {
            $stats['objects']++;
            if ($v instanceof __PHP_Incomplete_Class) {
                $stats['incomplete']++;
            } elseif ($forbidden) {
                $bad[] = 'an object of class ' . get_class($v) . ' was created';
            }
            return;
        }
        if (is_array($v)) {
            foreach ($v as $x) {
                $objectsIn($x);
            }
        }
    };
    $session = new Session(['session_dsn' => $dsn, 'session_cookie' => false]);
    $adapter = new Adapter($dsn);
    foreach ($inputs as $n => [$kind, $bytes]) {
        $id = 'corrupt' . str_pad((string) $n, 24, '0', STR_PAD_LEFT);
        $raw->write($id, $bytes);
        foreach (['adapter', 'session'] as $api) {
            $warnings = [];
            try {
                if ($api === 'adapter') {
                    $data = $adapter->read($id);
                } else {
                    $got = $session->start($id);
                    $data = $session->data;
                    $session->close();
                    if ($got !== $id && $bytes !== '') {
                        $bad[] = "session: start() replaced the id for $kind " . show($bytes);
                    }
                }
                $stats['array']++;
                $objectsIn($data);
                unset($data);
            } catch (CorruptDataException $e) {
                $stats['corrupt']++;
                if (str_contains($e->getMessage(), $bytes) && strlen($bytes) > 8) {
                    $bad[] = 'the message echoes the stored bytes';
                }
            } catch (Throwable $e) {
                $stats['other']++;
                $bad[] = "$api: " . get_class($e) . ': ' . $e->getMessage() . " for $kind " . show($bytes);
            }
        }
    }
    gc_collect_cycles();
    $events = Canary::$events;
    $n = count($inputs);
    check($bad === [], "$serializer, allowed_classes=$allowed: $n stored payloads x (Adapter, Session): "
        . "{$stats['corrupt']} CorruptDataException, {$stats['array']} arrays ({$stats['objects']} objects, "
        . "{$stats['incomplete']} incomplete), {$stats['other']} other" . ($bad ? ': ' . implode('; ', array_slice(array_unique($bad), 0, 5)) : ''));
    if ($forbidden) {
        check($events === 0, "no Canary was constructed, woken, unserialized or destroyed ($events events)");
    } else {
        echo "canary_events=$events\n";
    }
}

// ------------------------------------------------------------------------------------------
if ($mode === 'maxsize') {
    preg_match('/max_size=(\d+)/', $dsn, $m);
    $max = (int) $m[1];
    // The payload's size as each API stores it: session_encode() for the handlers,
    // serialize() for Session/Adapter. Find the filler length that makes it exactly $bytes.
    $sized = function (int $bytes, callable $encode): array {
        $n = $bytes;
        for ($i = 0; $i < 6; $i++) {
            $len = strlen($encode(['p' => str_repeat('z', $n)]));
            $n += $bytes - $len;
        }
        $data = ['p' => str_repeat('z', $n)];
        if (strlen($encode($data)) !== $bytes) {
            throw new LogicException("cannot size a payload to $bytes bytes");
        }
        return $data;
    };
    // session.serialize_handler=php: "key|" . serialize(value) per key.
    $encodeSession = function (array $d): string {
        $out = '';
        foreach ($d as $k => $v) {
            $out .= "$k|" . serialize($v);
        }
        return $out;
    };
    foreach (['native', 'handler', 'session', 'adapter'] as $api) {
        $encode = in_array($api, ['native', 'handler'], true) ? $encodeSession : 'serialize';
        $at = $sized($max, $encode);
        $over = $sized($max + 1, $encode);
        $h = null;
        if ($api === 'handler') {
            session_set_save_handler($h = new $handlerClass($dsn), false);
        }
        $session = new Session(['session_dsn' => $dsn, 'session_cookie' => false]);
        $adapter = new Adapter($dsn);
        $id = null;
        $write = function (array $data) use ($api, &$id, $session, $adapter, &$warnings): ?string {
            $warnings = [];
            try {
                if ($api === 'adapter') {
                    $id ??= 'maxsize' . bin2hex(random_bytes(12));
                    $adapter->write($id, $data);
                    return null;
                }
                if ($api === 'session') {
                    $id = $session->start($id);
                    $session->data = $data;
                    $session->close();
                    return null;
                }
                session_id($id ?? '');
                session_start();
                $id = session_id();
                $_SESSION = $data;
                session_write_close();
                return $warnings === [] ? null : implode(' | ', $warnings);
            } catch (Throwable $e) {
                if (session_status() === PHP_SESSION_ACTIVE) {
                    session_abort();
                }
                return get_class($e) . ': ' . $e->getMessage();
            }
        };
        $read = function () use ($api, &$id, $session, $adapter): array {
            if ($api === 'adapter') {
                return $adapter->read($id);
            }
            if ($api === 'session') {
                $session->start($id);
                $d = $session->data;
                $session->close();
                return $d;
            }
            session_id($id);
            session_start(['read_and_close' => true]);
            return $_SESSION;
        };
        $err = $write($at);
        check($err === null, "$api: a payload of exactly max_size ($max bytes) is stored" . ($err ? ": $err" : ''));
        check(($read()['p'] ?? '') === $at['p'], "$api: and reads back whole");
        $err = $write($over);
        $shape = match ($api) {
            'native' => 'writing the session failed',
            default => 'Cannon\Session\SessionException',
        };
        check($err !== null && str_contains($err, 'max_size') && str_contains($err, $shape) && str_contains($err, (string) ($max + 1)),
            "$api: max_size + 1 is refused, saying so: " . substr((string) $err, 0, 160));
        check(($read()['p'] ?? '') === $at['p'], "$api: the old data is untouched");
        if ($api === 'handler') {
            session_set_save_handler(new SessionHandler(), false); // back to the ini's handler
            ini_set('session.save_handler', 'cannon');
        }
    }
}

// ------------------------------------------------------------------------------------------
if ($mode === 'dsn') {
    $s = $o['secret'] ?? 'Hunter2Secret';
    $redis = [
        'scheme' => ["memcached://:$s@127.0.0.1:11211", 'scheme'],
        'no scheme' => [":$s@127.0.0.1:6379", 'scheme'],
        'host' => ["redis://:$s@:6379/0", 'host'],
        'port 0' => ["redis://:$s@127.0.0.1:0", 'port'],
        'port 70000' => ["redis://:$s@127.0.0.1:70000", 'port'],
        'db -1' => ["redis://:$s@127.0.0.1:6379/-1", 'db'],
        'db option -1' => ["redis://:$s@127.0.0.1:6379?db=-1", 'db'],
        'unknown option' => ["redis://:$s@127.0.0.1:6379/0?colour=blue", 'colour'],
        'timeout' => ["redis://:$s@127.0.0.1:6379/0?timeout=abc", 'timeout'],
        'timeout 0' => ["redis://:$s@127.0.0.1:6379/0?timeout=0", 'timeout'],
        'connect_timeout' => ["redis://:$s@127.0.0.1:6379/0?connect_timeout=-1", 'connect_timeout'],
        'lock' => ["redis://:$s@127.0.0.1:6379/0?lock=maybe", 'lock'],
        'lock_ttl' => ["redis://:$s@127.0.0.1:6379/0?lock_ttl=forever", 'lock_ttl'],
        'lock_wait_timeout' => ["redis://:$s@127.0.0.1:6379/0?lock_wait_timeout=NaN", 'lock_wait_timeout'],
        'max_size' => ["redis://:$s@127.0.0.1:6379/0?max_size=12abc", 'max_size'],
        'serializer' => ["redis://:$s@127.0.0.1:6379/0?serializer=xml", 'serializer'],
        'password_file' => ["redis://127.0.0.1:6379/0?password_file=/nonexistent/cannon-pw", 'password_file'],
        'percent-encoding' => ["redis://:$s%zz@127.0.0.1:6379/0", 'percent-encoding'],
    ];
    $mysql = [
        'table with a quote' => ["mysql://u:$s@127.0.0.1:3306/test?table=x'y", 'table'],
        'table with a backtick' => ["mysql://u:$s@127.0.0.1:3306/test?table=x`y", 'table'],
        'dbname with a quote' => ["mysql://u:$s@127.0.0.1:3306/te'st", 'dbname'],
        'no dbname' => ["mysql://u:$s@127.0.0.1:3306/", 'dbname'],
        'port 0' => ["mysql://u:$s@127.0.0.1:0/test", 'port'],
        'port 70000' => ["mysql://u:$s@127.0.0.1:70000/test", 'port'],
        'unknown option' => ["mysql://u:$s@127.0.0.1:3306/test?colour=blue", 'colour'],
        'timeout' => ["mysql://u:$s@127.0.0.1:3306/test?timeout=abc", 'timeout'],
        'auto_create' => ["mysql://u:$s@127.0.0.1:3306/test?auto_create=perhaps", 'auto_create'],
    ];
    $entry = [
        'native' => function (string $d) use (&$warnings): string {
            $warnings = [];
            ini_set('session.save_handler', 'cannon');
            ini_set('session.save_path', $d);
            $ok = session_start();
            if (session_status() === PHP_SESSION_ACTIVE) {
                session_abort();
            }
            return ($ok ? 'started! ' : 'false ') . implode(' | ', $warnings);
        },
        'RedisHandler' => fn (string $d) => (string) new RedisHandler($d) ?: '',
        'DatabaseHandler' => fn (string $d) => (string) new DatabaseHandler($d) ?: '',
        'Session' => fn (string $d) => (string) new Session(['session_dsn' => $d]) ?: '',
        'Session(dsn string)' => fn (string $d) => (string) new Session($d) ?: '',
        'Adapter' => fn (string $d) => (string) new Adapter($d) ?: '',
    ];
    foreach ($entry as $name => $f) {
        $cases = match ($name) {
            'RedisHandler' => $redis,
            'DatabaseHandler' => $mysql,
            default => $redis + array_combine(array_map(fn ($k) => "mysql $k", array_keys($mysql)), $mysql),
        };
        $good = 0;
        $problems = [];
        foreach ($cases as $label => [$d, $field]) {
            try {
                $out = $f($d);
                if ($name !== 'native') {
                    $problems[] = "$label: accepted";
                    continue;
                }
                // Ours is the warning starting "cannon_session:"; PHP's own session warnings
                // quote session.save_path verbatim (that is what password_file/_env are for).
                $ours = implode(' | ', array_filter(explode(' | ', $out), fn ($w) => str_contains($w, 'cannon_session')));
                if (!str_starts_with($out, 'false ') || !str_contains($ours, $field) || str_contains($ours, $s)) {
                    $problems[] = "$label: " . substr($out, 0, 200);
                    continue;
                }
            } catch (ConfigException $e) {
                if (!str_contains($e->getMessage(), $field) || str_contains($e->getMessage(), $s)
                    || str_contains((string) $e->getPrevious()?->getMessage(), $s)) {
                    $problems[] = "$label: {$e->getMessage()}";
                    continue;
                }
            } catch (Throwable $e) {
                $problems[] = "$label: " . get_class($e) . ': ' . $e->getMessage();
                continue;
            }
            $good++;
        }
        check($problems === [], "$name: $good/" . count($cases) . ' bad DSNs refused naming the field, no password'
            . ($problems ? ': ' . implode('; ', $problems) : ''));
    }
}

echo "$passed passed, $failed failed\n";
exit($failed === 0 && $passed > 0 ? 0 : 1);
