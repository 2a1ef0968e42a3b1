<?php
// cannon-session benchmark driver (run by bench/run.sh, which `make bench` calls).
//
//   php bench/run.php [--rounds=5] [--seconds=1.0] [--pool=1000] [--modes=write-1k,read-1k,write-16k]
//                     [--only=cannon,phpredis,...] [--skip-cli] [--skip-http] [--skip-memory] [--skip-strace]
//                     [--memory-cycles=200000] [--http-seconds=5] [--http-rounds=5] [--out=bench/results]
//                     [--pin=split|same|none] [--mysql=private|system]
//
// Steps: start a private redis-server (free port, no persistence) so nothing else on the machine
// shares it and its statistics count only us, and a private MariaDB (no disk flush per commit;
// --mysql=system or BENCH_MYSQL=system uses the system server instead); measure the round-trip floors; run every
// contender in every mode, interleaved (A B C ... A B C ...), `rounds` times, snapshotting the
// server's counters around each timed part; count each contender's client-side syscalls with
// strace; watch RSS over a long cannon run; run the HTTP benchmark (bench/lib/http.php); write
// results/latest.json, latest.md and latest.png (bench/lib/report.php).
// Every child process has a deadline; everything started here is stopped by PID at the end.

declare(strict_types=1);

require __DIR__ . '/lib/util.php';
require __DIR__ . '/lib/contenders.php';
require __DIR__ . '/lib/handlers.php';
require __DIR__ . '/lib/http.php';
require __DIR__ . '/lib/report.php';
require __DIR__ . '/lib/mysql_shapes.php';
require __DIR__ . '/lib/redis_shapes.php';

const MODES = [
    'write-1k' => ['write', 1024, 'write cycles, 1 KB payload'],
    'read-1k' => ['read', 1024, 'read-only cycles (lazy write), 1 KB payload'],
    'write-16k' => ['write', 16384, 'write cycles, 16 KB payload'],
];

$opt = getopt('', ['rounds:', 'seconds:', 'pool:', 'modes:', 'only:', 'pin:', 'skip-cli', 'skip-http', 'skip-memory', 'skip-strace',
    'memory-cycles:', 'http-seconds:', 'http-rounds:', 'out:', 'mysql:']);
$root = dirname(__DIR__);
$cfg = [
    'rounds' => max(1, (int) ($opt['rounds'] ?? getenv('BENCH_ROUNDS') ?: 5)),
    'seconds' => (float) ($opt['seconds'] ?? getenv('BENCH_SECONDS') ?: 1.0),
    'pool' => (int) ($opt['pool'] ?? 1000),
    'modes' => array_values(array_filter(explode(',', (string) ($opt['modes'] ?? 'write-1k,read-1k,write-16k')),
        fn ($m) => isset(MODES[$m]))),
    'memory_cycles' => (int) ($opt['memory-cycles'] ?? 200000),
    'http_seconds' => (int) ($opt['http-seconds'] ?? 5),
    'http_rounds' => (int) ($opt['http-rounds'] ?? 5),
    'out' => (string) ($opt['out'] ?? "$root/bench/results"),
    // CPU placement of the CLI part. On a small VM a round trip costs ~12 µs when client and
    // server share a CPU and 50-120 µs across CPUs (waking the other vCPU), and the scheduler
    // flips between the two under load, so unpinned results are bimodal. Measured on the 2-vCPU
    // development VM, 3 interleaved rounds each: same = spread within ~20%; split and none =
    // spreads of 2-7x. same = the private redis-server and every PHP process on CPU 0 (the
    // default: stable, and what a cycle costs in CPU and round trips decides the result);
    // split = redis-server on the last CPU, clients on CPU 0; none = the scheduler decides.
    // The MySQL server is not ours and is never pinned.
    'pin' => (string) ($opt['pin'] ?? getenv('BENCH_PIN') ?: 'same'),
    'ext' => getenv('CANNON_EXT') ?: "$root/target/release/libcannon_session.so",
    'mysql' => ['host' => '127.0.0.1', 'port' => 3306, 'db' => 'test', 'user' => 'cannon_test', 'pass' => 'cannon_test_pw'],
];
if ($dsn = getenv('CANNON_MYSQL_DSN')) {
    $u = parse_url($dsn);
    if ($u !== false && isset($u['host'])) {
        $cfg['mysql'] = ['host' => $u['host'], 'port' => $u['port'] ?? 3306, 'db' => ltrim($u['path'] ?? '/test', '/'),
            'user' => rawurldecode($u['user'] ?? 'root'), 'pass' => rawurldecode($u['pass'] ?? '')];
    }
}
$ncpu = (int) trim((string) shell_exec('nproc 2>/dev/null')) ?: 1;
$haveTaskset = trim((string) shell_exec('command -v taskset 2>/dev/null')) !== '';
if ($cfg['pin'] !== 'none' && (!$haveTaskset || $ncpu < 2)) {
    $cfg['pin'] = 'none';
}
/** Prefix that puts a command on the client CPU (or the server's). */
function pin_prefix(string $role): array
{
    global $cfg, $ncpu;
    return match ($cfg['pin']) {
        'split' => ['taskset', '-c', (string) ($role === 'server' ? $ncpu - 1 : 0)],
        'same' => ['taskset', '-c', '0'],
        default => [],
    };
}
if ($cfg['pin'] !== 'none') {
    // The floors measured from this process (connect, MySQL) run on the client CPU too.
    shell_exec('taskset -pc 0 ' . getmypid() . ' >/dev/null 2>&1');
}
$started = microtime(true);
$tmp = sys_get_temp_dir() . '/cannon-bench.' . getmypid();
@mkdir($tmp, 0700, true);
// Measure one build: others may rebuild target/release while this runs, so every process of
// this run loads a private copy of the extension taken now.
$extBuild = null;
// Which code is measured: the commit, and whether src/ had uncommitted changes.
$gitState = trim((string) shell_exec('cd ' . escapeshellarg($root) . ' && git rev-parse --short HEAD 2>/dev/null'))
    . (trim((string) shell_exec('cd ' . escapeshellarg($root) . ' && git status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null')) !== ''
        ? ' + uncommitted changes in src/' : '');
if (is_file($cfg['ext'])) {
    $extBuild = sprintf('%s, built %s', substr((string) hash_file('sha256', $cfg['ext']), 0, 12),
        gmdate('Y-m-d H:i', (int) filemtime($cfg['ext'])) . ' UTC');
    if (copy($cfg['ext'], "$tmp/libcannon_session.so")) {
        $cfg['ext_source'] = $cfg['ext'];
        $cfg['ext'] = "$tmp/libcannon_session.so";
    }
}
@mkdir($cfg['out'], 0755, true);

// ---- cleanup: everything we start is registered here and stopped by PID -----------------------
$children = []; // name => [proc resource, pid]
function stop_children(): void
{
    global $children;
    foreach (array_reverse($children, true) as $name => [$proc, $pid]) {
        if (is_resource($proc) && proc_get_status($proc)['running']) {
            posix_kill($pid, SIGTERM);
            for ($i = 0; $i < 50 && proc_get_status($proc)['running']; $i++) {
                usleep(100000);
            }
            if (proc_get_status($proc)['running']) {
                posix_kill($pid, SIGKILL);
            }
        }
        unset($children[$name]);
    }
}
register_shutdown_function(function () use ($tmp) {
    stop_children();
    http_stop();
    if (is_dir($tmp)) {
        exec('rm -rf ' . escapeshellarg($tmp));
    }
});
pcntl_async_signals(true);
foreach ([SIGINT, SIGTERM] as $sig) {
    pcntl_signal($sig, function () {
        logline('interrupted: stopping what was started');
        exit(130);
    });
}

// ---- private redis-server -----------------------------------------------------------------------
$redisPort = free_port();
$redisProc = proc_open([...pin_prefix('server'), 'redis-server', '--port', (string) $redisPort, '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', $tmp, '--logfile', "$tmp/redis.log", '--daemonize', 'no'],
    [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$tmp/redis.out", 'w'], 2 => ['file', "$tmp/redis.out", 'a']], $pipes);
if (!is_resource($redisProc)) {
    logline('cannot start redis-server (scripts/deps.sh installs it)');
    exit(1);
}
$children['redis'] = [$redisProc, proc_get_status($redisProc)['pid']];
for ($i = 0; $i < 100 && !port_open('127.0.0.1', $redisPort); $i++) {
    usleep(50000);
}
$redis = new MiniRedis('127.0.0.1', $redisPort);
$redisVersion = '';
if (preg_match('/redis_version:(\S+)/', (string) $redis->cmd('INFO', 'server'), $m)) {
    $redisVersion = $m[1];
}
logline("private redis-server $redisVersion on 127.0.0.1:$redisPort");


// ---- private MariaDB ------------------------------------------------------------------------------
/**
 * Starts a MariaDB of the benchmark's own in $dir (free port, user cannon_test), as the private
 * redis-server is: nothing else on the machine shares it, and like that redis-server (no
 * persistence) it does not flush every commit to disk (innodb_flush_log_at_trx_commit=2: the log
 * is written at each commit and flushed once a second). A per-commit disk flush costs the same
 * for every contender and is the disk's, not the session handler's; the system server's own
 * (durable) commit cost is measured beside it for reference. Returns the port, or null.
 */
function start_private_mariadb(string $dir): ?int
{
    global $children;
    $install = http_find_binary(['mariadb-install-db', 'mysql_install_db']);
    $server = http_find_binary(['mariadbd', 'mysqld']);
    $client = http_find_binary(['mariadb', 'mysql']);
    if ($install === null || $server === null || $client === null) {
        logline('private MariaDB: mariadb-server not installed, using the system server');
        return null;
    }
    @mkdir($dir, 0700, true);
    $user = posix_getpwuid(posix_geteuid())['name'] ?? 'root';
    [$rc, $out, $err] = run_cmd([$install, '--no-defaults', "--datadir=$dir/data", '--auth-root-authentication-method=normal',
        '--skip-test-db', "--user=$user"], null, 120);
    if ($rc !== 0) {
        logline('private MariaDB: install-db failed: ' . trim(substr($err . $out, -300)));
        return null;
    }
    $port = free_port();
    $proc = proc_open([...pin_prefix('server'), $server, '--no-defaults', "--datadir=$dir/data", "--socket=$dir/sock", "--port=$port",
        '--bind-address=127.0.0.1', "--pid-file=$dir/pid", "--user=$user", '--skip-log-bin', '--skip-name-resolve',
        '--innodb-buffer-pool-size=128M', '--innodb-log-file-size=64M', '--innodb-flush-log-at-trx-commit=2',
        '--max-connections=500', "--log-error=$dir/error.log"],
        [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/out.log", 'w'], 2 => ['file', "$dir/out.log", 'a']], $pipes);
    if (!is_resource($proc)) {
        logline('private MariaDB: cannot start mariadbd');
        return null;
    }
    $children['mariadb'] = [$proc, proc_get_status($proc)['pid']];
    for ($i = 0; $i < 300 && !(file_exists("$dir/sock") && port_open('127.0.0.1', $port)); $i++) {
        usleep(100000);
    }
    $sql = "CREATE DATABASE IF NOT EXISTS test; CREATE USER IF NOT EXISTS 'cannon_test'@'%' IDENTIFIED BY 'cannon_test_pw'; "
        . "GRANT ALL ON test.* TO 'cannon_test'@'%';";
    [$rc, $out, $err] = run_cmd([$client, '--no-defaults', '-S', "$dir/sock", '-uroot', '-e', $sql], null, 30);
    if ($rc !== 0) {
        logline('private MariaDB: set-up failed: ' . trim(substr($err . $out . @file_get_contents("$dir/error.log"), -300)));
        return null;
    }
    return $port;
}

$cfg['mysql_server'] = 'system';
$cfg['mysql_system'] = $cfg['mysql'];
if ((string) ($opt['mysql'] ?? getenv('BENCH_MYSQL') ?: 'private') === 'private') {
    $port = start_private_mariadb("$tmp/mariadb");
    if ($port !== null) {
        $cfg['mysql'] = ['host' => '127.0.0.1', 'port' => $port, 'db' => 'test', 'user' => 'cannon_test', 'pass' => 'cannon_test_pw'];
        $cfg['mysql_server'] = 'private';
        logline("private MariaDB on 127.0.0.1:$port (innodb_flush_log_at_trx_commit=2)");
    }
}

$ctxBase = [
    'redis_host' => '127.0.0.1', 'redis_port' => $redisPort,
    'mysql_host' => $cfg['mysql']['host'], 'mysql_port' => (int) $cfg['mysql']['port'], 'mysql_db' => $cfg['mysql']['db'],
    'mysql_user' => $cfg['mysql']['user'], 'mysql_pass' => $cfg['mysql']['pass'], 'tmp' => $tmp, 'payload' => 1024,
];
$env = getenv();
$env['BENCH_CTX'] = json_encode($ctxBase);

// ---- MySQL ----------------------------------------------------------------------------------------
$mysqlVersion = null;
$mysqlError = null;
$pdo = null;
try {
    $pdo = new PDO(sprintf('mysql:host=%s;port=%d;dbname=%s', $cfg['mysql']['host'], $cfg['mysql']['port'], $cfg['mysql']['db']),
        $cfg['mysql']['user'], $cfg['mysql']['pass'], [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 3]);
    $mysqlVersion = (string) $pdo->query('SELECT VERSION()')->fetchColumn();
    BenchPdoHandler::createTable($pdo);
    $autoload = '/usr/share/php/Symfony/Component/HttpFoundation/autoload.php';
    if (is_file($autoload)) {
        require_once $autoload;
        $sf = new \Symfony\Component\HttpFoundation\Session\Storage\Handler\PdoSessionHandler($pdo,
            ['db_table' => 'bench_symfony_sessions']);
        try {
            $sf->createTable();
        } catch (\Throwable $e) {
            // already there
        }
    }
    logline("MySQL/MariaDB $mysqlVersion at {$cfg['mysql']['host']}:{$cfg['mysql']['port']}");
} catch (\Throwable $e) {
    $mysqlError = $e->getMessage();
    logline("MySQL not usable, its contenders are n/a: $mysqlError");
}

// ---- contenders: command lines, and a probe of each ------------------------------------------
function ini_arg(string $k, string $v): string
{
    // php -d only quotes a value itself when its first character is not alphanumeric, and the INI
    // parser treats & | ~ ! as operators: quote everything that is not a plain word.
    return preg_match('/^[A-Za-z0-9_.\/-]*$/', $v) ? "$k=$v" : "$k=\"$v\"";
}

function contender_cmd(string $name, array $def, BenchCtx $ctx, array $cycleArgs): array
{
    global $cfg;
    $cmd = [...pin_prefix('client'), PHP_BINARY];
    if (!empty($def['cannon'])) {
        array_push($cmd, '-d', 'extension=' . $cfg['ext']);
    }
    $ini = bench_common_ini() + (isset($def['ini']) ? ($def['ini'])($ctx) : []);
    foreach ($ini as $k => $v) {
        array_push($cmd, '-d', ini_arg($k, (string) $v));
    }
    $cmd[] = __DIR__ . '/cycle.php';
    $cmd[] = "--contender=$name";
    foreach ($cycleArgs as $k => $v) {
        $cmd[] = $v === true ? "--$k" : "--$k=$v";
    }
    return $cmd;
}

function shell_line(array $cmd): string
{
    global $root, $cfg;
    return implode(' ', array_map(function ($a) use ($root, $cfg) {
        if (isset($cfg['ext_source'])) {
            $a = str_replace($cfg['ext'], $cfg['ext_source'], $a);
        }
        $a = str_replace($root . '/', '', $a);
        return preg_match('/^[A-Za-z0-9_.\/=:,-]+$/', $a) ? $a : escapeshellarg($a);
    }, $cmd));
}

/**
 * Runs one cycle.php process with --sync: waits for READY, snapshots the redis counters, lets it
 * run, snapshots again after it exits. Returns the decoded result plus 'stats' (or an error).
 */
function run_synced(array $cmd, array $env, ?MiniRedis $redis, ?array $cal, float $timeout): array
{
    $t0 = microtime(true);
    $readyAt = null;
    $p = proc_open($cmd, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes, null, $env);
    if (!is_resource($p)) {
        return ['ok' => false, 'error' => 'proc_open failed'];
    }
    stream_set_blocking($pipes[1], false);
    stream_set_blocking($pipes[2], false);
    $out = $err = '';
    $deadline = microtime(true) + $timeout;
    $before = null;
    $killed = false;
    while (true) {
        $r = [$pipes[1], $pipes[2]];
        $w = $e = null;
        if (@stream_select($r, $w, $e, 0, 100000) > 0) {
            foreach ($r as $fd) {
                $chunk = (string) fread($fd, 65536);
                if ($fd === $pipes[1]) {
                    $out .= $chunk;
                } else {
                    $err .= $chunk;
                }
            }
        }
        if ($before === null && str_contains($out, "READY\n")) {
            $readyAt = microtime(true);
            $before = $redis?->snapshot() ?? [];
            fwrite($pipes[0], "\n");
            fflush($pipes[0]);
        }
        $st = proc_get_status($p);
        if (!$st['running']) {
            break;
        }
        if (microtime(true) > $deadline) {
            posix_kill($st['pid'], SIGKILL);
            $killed = true;
            break;
        }
    }
    $out .= (string) stream_get_contents($pipes[1]);
    $err .= (string) stream_get_contents($pipes[2]);
    foreach ($pipes as $fd) {
        fclose($fd);
    }
    proc_close($p);
    $lines = array_values(array_filter(explode("\n", $out), fn ($l) => str_starts_with($l, '{')));
    $res = $lines ? json_decode(end($lines), true) : null;
    if (!is_array($res)) {
        $msg = $killed ? "killed after {$timeout}s" : 'no result';
        return ['ok' => false, 'error' => $msg . ': ' . trim(substr($err . $out, 0, 600))];
    }
    $res['wall_setup'] = round(($readyAt ?? $t0) - $t0, 3);
    $res['wall_total'] = round(microtime(true) - $t0, 3);
    if ($before !== null && $redis !== null && ($res['cycles'] ?? 0) > 0) {
        $d = snap_delta($before, $redis->snapshot(), $cal);
        $n = $res['cycles'];
        $res['stats'] = [
            'rt' => $d['writes'] / $n,
            'reads' => $d['reads'] / $n,
            'connections' => $d['connections'] / $n,
            'commands' => $d['commands'] / $n,
            'server_cpu_us' => $d['cpu_us'] / $n,
            'cmd' => array_map(fn ($c) => $c / $n, $d['cmd']),
        ];
    }
    if (!$res['ok'] && !isset($res['error'])) {
        $res['error'] = sprintf('%d bad reads, %d warnings%s%s', $res['bad'] ?? 0, $res['errors'] ?? 0,
            $res['first_error'] ? ': ' . $res['first_error'] : '', $res['exception'] ? '; ' . $res['exception'] : '');
    }
    return $res;
}

// Calibration: what one snapshot pair costs when nothing else happens.
$s1 = $redis->snapshot();
$cal = snap_delta($s1, $redis->snapshot());

$contenders = bench_contenders();
if (isset($opt['only'])) {
    $only = explode(',', (string) $opt['only']);
    $contenders = array_filter($contenders, fn ($k) => in_array($k, $only, true), ARRAY_FILTER_USE_KEY);
}
$unavailable = [];
$haveExt = is_file($cfg['ext']);
foreach ($contenders as $name => $def) {
    $why = null;
    if (!empty($def['cannon']) && !$haveExt) {
        $why = "extension not built ({$cfg['ext']})";
    } elseif ($def['store'] === 'mysql' && $mysqlError !== null) {
        $why = 'MySQL not reachable: ' . $mysqlError;
    } elseif (!empty($def['symfony']) && !is_file('/usr/share/php/Symfony/Component/HttpFoundation/autoload.php')) {
        $why = 'php-symfony-http-foundation not installed';
    } elseif (str_starts_with($name, 'phpredis') && !extension_loaded('redis')) {
        $why = 'php-redis not installed';
    }
    if ($why === null) {
        $ctx = BenchCtx::fromArray($ctxBase);
        $r = run_synced(contender_cmd($name, $def, $ctx, ['cycles' => 20, 'pool' => 20, 'warmup' => 5]), $env, null, null, 60);
        if (!$r['ok']) {
            $why = 'probe failed: ' . ($r['error'] ?? 'unknown');
        }
    }
    if ($why !== null) {
        $unavailable[$name] = $why;
        logline("n/a: $name: $why");
    }
}
$active = array_diff_key($contenders, $unavailable);

// ---- floors -----------------------------------------------------------------------------------
function redis_floor(int $port, ?array $client = null, int $pings = 20000): ?float
{
    [$rc, $out] = run_cmd([...($client ?? pin_prefix('client')), 'redis-benchmark', '-h', '127.0.0.1', '-p', (string) $port, '-c', '1', '-P', '1',
        '-n', (string) $pings, '-t', 'ping', '--csv'], null, 60);
    $rps = [];
    foreach (explode("\n", $out) as $l) {
        $f = str_getcsv($l);
        if (count($f) >= 2 && str_starts_with($f[0], 'PING') && is_numeric($f[1])) {
            $rps[] = (float) $f[1];
        }
    }
    return $rc === 0 && $rps ? 1e6 / max($rps) : null;
}

/** µs per `SELECT 1` on one connection, and per connect+close (PDO), from PHP. */
function mysql_floor(array $m, bool $connect = true): array
{
    $dsn = sprintf('mysql:host=%s;port=%d;dbname=%s', $m['host'], $m['port'], $m['db']);
    try {
        $pdo = new PDO($dsn, $m['user'], $m['pass']);
        BenchPdoHandler::createTable($pdo);
        for ($i = 0; $i < 200; $i++) {
            $pdo->query('SELECT 1')->fetchColumn();
        }
        $t = hrtime(true);
        for ($i = 0; $i < 3000; $i++) {
            $pdo->query('SELECT 1')->fetchColumn();
        }
        $q = (hrtime(true) - $t) / 3e3 / 1e3;
        // One autocommitted single-row upsert: what any MySQL write cycle pays at least (with
        // innodb_flush_log_at_trx_commit=1 that includes a log flush to disk).
        $st = $pdo->prepare('INSERT INTO ' . BenchPdoHandler::TABLE . ' (sess_id, sess_data, sess_time) VALUES (?, ?, ?) '
            . 'ON DUPLICATE KEY UPDATE sess_data = VALUES(sess_data), sess_time = VALUES(sess_time)');
        $t = hrtime(true);
        for ($i = 0; $i < 200; $i++) {
            $st->execute(['floor-commit', str_repeat($i & 1 ? 'a' : 'b', 1024), $i]);
        }
        $commit = (hrtime(true) - $t) / 200 / 1e3;
        $pdo->exec("DELETE FROM " . BenchPdoHandler::TABLE . " WHERE sess_id = 'floor-commit'");
        if (!$connect) {
            $pdo->exec('DROP TABLE IF EXISTS ' . BenchPdoHandler::TABLE);
            return ['select1_us' => $q, 'commit_us' => $commit, 'connect_us' => null];
        }
        $t = hrtime(true);
        for ($i = 0; $i < 200; $i++) {
            $c = new PDO($dsn, $m['user'], $m['pass']);
            $c = null;
        }
        return ['select1_us' => $q, 'commit_us' => $commit, 'connect_us' => (hrtime(true) - $t) / 200 / 1e3];
    } catch (\Throwable $e) {
        return ['select1_us' => null, 'commit_us' => null, 'connect_us' => null];
    }
}

/** µs per TCP connect + close to the private redis-server, from PHP. */
function tcp_connect_floor(int $port): ?float
{
    $t = hrtime(true);
    for ($i = 0; $i < 1000; $i++) {
        $s = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 1.0);
        if ($s === false) {
            return null;
        }
        fclose($s);
    }
    return (hrtime(true) - $t) / 1000 / 1e3;
}

// ---- CLI rounds ---------------------------------------------------------------------------------
$results = []; // mode => contender => ['runs' => [...], 'cmd' => ...]
$floors = ['redis_rtt_us' => [], 'redis_rtt_cross_cpu_us' => [], 'tcp_connect_us' => [], 'mysql_select1_us' => [], 'mysql_commit_us' => [], 'mysql_connect_us' => [],
    'mysql_system_select1_us' => [], 'mysql_system_commit_us' => [],
    'mysql_shape_unlocked_us' => [], 'mysql_shape_locked_text_us' => [], 'mysql_shape_locked_prepared_us' => [],
    'redis_shape_write_locked_us' => [], 'redis_shape_write_unlocked_us' => [], 'redis_shape_read_locked_us' => [],
    'redis_shape_read_unlocked_us' => []];
if (isset($opt['skip-cli'])) {
    $cfg['modes'] = [];
    $cfg['rounds'] = 1; // the floors are still measured once
}
$runsTotal = $cfg['rounds'] * count($cfg['modes']) * count($active);
logline(sprintf('CLI: %d contenders x %d modes x %d rounds = %d runs of %.1fs (+ set-up each)',
    count($active), count($cfg['modes']), $cfg['rounds'], $runsTotal, $cfg['seconds']));
$runNo = 0;
for ($round = 1; $round <= $cfg['rounds']; $round++) {
    $floors['redis_rtt_us'][] = redis_floor($redisPort);
    if ($cfg['pin'] === 'same' && $ncpu > 1) {
        // For reference: the same round trip with client and server on different CPUs.
        $rpid = $children['redis'][1];
        shell_exec("taskset -pc " . ($ncpu - 1) . " $rpid >/dev/null 2>&1");
        $floors['redis_rtt_cross_cpu_us'][] = redis_floor($redisPort, ['taskset', '-c', '0']);
        shell_exec("taskset -pc 0 $rpid >/dev/null 2>&1");
    }
    // Each round, beside the round trip: cannon's Redis commands alone (bench/lib/redis_shapes.php).
    foreach (redis_shapes('127.0.0.1', $redisPort) as $shapeName => $us) {
        $floors["redis_shape_{$shapeName}_us"][] = $us;
    }
    $floors['tcp_connect_us'][] = tcp_connect_floor($redisPort);
    if ($mysqlError === null) {
        $mf = mysql_floor($cfg['mysql']);
        $floors['mysql_select1_us'][] = $mf['select1_us'];
        $floors['mysql_connect_us'][] = $mf['connect_us'];
        $floors['mysql_commit_us'][] = $mf['commit_us'];
        if ($cfg['mysql_server'] === 'private' && $round === 1) {
            // The system server, durable as configured, for reference (its round trip and commit);
            // once: its disk flushes would disturb the runs that follow.
            $sf = mysql_floor($cfg['mysql_system'], false);
            $floors['mysql_system_select1_us'][] = $sf['select1_us'];
            $floors['mysql_system_commit_us'][] = $sf['commit_us'];
        }
        // Each round: what the statements of a cycle cost by themselves (bench/lib/mysql_shapes.php).
        $shape = mysql_shapes($cfg['mysql']);
        $floors['mysql_shape_unlocked_us'][] = $shape['unlocked_prepared_2rt'];
        $floors['mysql_shape_locked_text_us'][] = $shape['locked_text_2rt'];
        $floors['mysql_shape_locked_prepared_us'][] = $shape['locked_prepared_4rt'];
    }
    logline(sprintf('round %d/%d: redis round trip %.1f µs (redis-benchmark -c 1 -P 1 ping)', $round, $cfg['rounds'],
        end($floors['redis_rtt_us']) ?? 0));
    // Let the servers' background work after the floors (InnoDB purge and flushing) settle.
    usleep(1000000);
    // Each round starts one contender further on (A B C, B C A, C A B, ...): whatever disturbs the
    // start of a round (the floors just measured, the previous mode's MySQL runs) does not always
    // fall on the same contender.
    $order = array_keys($active);
    $shift = count($order) > 0 ? ($round - 1) % count($order) : 0;
    $order = array_merge(array_slice($order, $shift), array_slice($order, 0, $shift));
    foreach ($cfg['modes'] as $modeName) {
        [$mode, $payload] = MODES[$modeName];
        $ctx = BenchCtx::fromArray(['payload' => $payload] + $ctxBase);
        foreach ($order as $name) {
            $def = $active[$name];
            $runNo++;
            $cmd = contender_cmd($name, $def, $ctx, ['mode' => $mode, 'payload' => $payload, 'pool' => $cfg['pool'],
                'seconds' => $cfg['seconds'], 'warmup' => 200, 'sync' => true]);
            // The targets compare cannon's Redis cycles with the round trip of that moment: measured
            // right before each such run (this machine's speed drifts within a round).
            $rttNow = !empty($def['cannon']) && $def['store'] === 'redis' ? redis_floor($redisPort, null, 5000) : null;
            $r = run_synced($cmd, $env, $def['store'] === 'redis' ? $redis : null, $cal, 60 + $cfg['seconds'] * 4);
            if ($rttNow !== null) {
                $r['rtt_us'] = $rttNow;
            }
            $results[$modeName][$name]['runs'][] = $r;
            $results[$modeName][$name]['cmd'] = shell_line($cmd);
            if ($r['ok']) {
                logline(sprintf('  [%3d/%d] %-9s %-20s %8.0f cycles/s %7.1f µs%s  (%.1fs set-up, %.1fs total)', $runNo, $runsTotal,
                    $modeName, $name, $r['cps'], $r['us'], isset($r['stats']) ? sprintf('  %.2f RT', $r['stats']['rt']) : '',
                    $r['wall_setup'], $r['wall_total']));
            } else {
                logline(sprintf('  [%3d/%d] %-9s %-20s FAILED: %s', $runNo, $runsTotal, $modeName, $name, $r['error'] ?? '?'));
            }
        }
    }
}

// ---- client-side syscalls (strace) --------------------------------------------------------------
/** Counts syscalls between cycle.php's READY line and its result line, per cycle. */
function strace_counts(array $cmd, array $env, int $cycles): ?array
{
    global $tmp;
    $file = "$tmp/strace.out";
    @unlink($file);
    $full = array_merge(['strace', '-f', '-qq', '-yy', '-o', $file], $cmd);
    [$rc, $out] = run_cmd($full, "\n", 120, $env);
    if (!is_file($file)) {
        return null;
    }
    $in = false;
    $counts = [];
    $sends = 0;
    $connects = 0;
    foreach (file($file, FILE_IGNORE_NEW_LINES) as $l) {
        if (!preg_match('/^\d+\s+([a-z0-9_]+)\((.*)$/', $l, $m)) {
            continue;
        }
        [$_, $sys, $rest] = $m;
        if (!$in) {
            if ($sys === 'write' && str_contains($rest, '"READY\n"')) {
                $in = true;
            }
            continue;
        }
        if ($sys === 'write' && str_starts_with($rest, '1<') && str_contains($rest, '"{\"ok\"')) {
            break;
        }
        $counts[$sys] = ($counts[$sys] ?? 0) + 1;
        $sock = preg_match('/^\d+<(TCP|TCPv6|UNIX|UDP)/', $rest) === 1;
        if ($sock && in_array($sys, ['sendto', 'sendmsg', 'write', 'writev', 'sendmmsg'], true)) {
            $sends++;
        }
        if ($sys === 'connect') {
            $connects++;
        }
    }
    if (!$in || $counts === []) {
        return null;
    }
    arsort($counts);
    return [
        'syscalls' => array_sum($counts) / $cycles,
        'sends' => $sends / $cycles,
        'connects' => $connects / $cycles,
        'by_syscall' => array_map(fn ($c) => round($c / $cycles, 2), $counts),
    ];
}

$strace = [];
if (!isset($opt['skip-strace'])) {
    if (trim((string) shell_exec('command -v strace')) === '') {
        logline('strace not installed: client-side counts skipped');
    } else {
        logline('client-side syscalls per cycle (strace, 200 cycles each)');
        foreach (['write-1k', 'read-1k'] as $modeName) {
            if (!in_array($modeName, $cfg['modes'], true)) {
                continue;
            }
            [$mode, $payload] = MODES[$modeName];
            $ctx = BenchCtx::fromArray(['payload' => $payload] + $ctxBase);
            foreach ($active as $name => $def) {
                // A small pool: the set-up runs under strace too, and the pool size does not change a cycle.
                $cmd = contender_cmd($name, $def, $ctx, ['mode' => $mode, 'payload' => $payload, 'pool' => 50,
                    'cycles' => 200, 'warmup' => 20, 'sync' => true]);
                $strace[$modeName][$name] = strace_counts($cmd, $env, 200);
            }
        }
    }
}

// ---- memory -------------------------------------------------------------------------------------
$memory = null;
if (!isset($opt['skip-memory']) && isset($active['cannon'])) {
    logline(sprintf('memory: %d write cycles of the cannon native handler in one process', $cfg['memory_cycles']));
    $ctx = BenchCtx::fromArray(['payload' => 1024] + $ctxBase);
    $cmd = contender_cmd('cannon', $active['cannon'], $ctx, ['mode' => 'write', 'payload' => 1024, 'pool' => $cfg['pool'],
        'cycles' => $cfg['memory_cycles'], 'warmup' => 1000, 'rss-every' => max(1, intdiv($cfg['memory_cycles'], 10))]);
    [$rc, $out, $err] = run_cmd($cmd, null, 300, $env);
    $lines = array_values(array_filter(explode("\n", $out), fn ($l) => str_starts_with($l, '{')));
    $memory = $lines ? json_decode(end($lines), true) : null;
    if (is_array($memory)) {
        $memory['cmd'] = shell_line($cmd);
        logline(sprintf('  RSS %d kB at start, %d kB after set-up, %d kB after %d cycles', $memory['rss_kb_start'],
            $memory['rss_kb_ready'], $memory['rss_kb_end'], $memory['cycles']));
    } else {
        logline('  memory run failed: ' . trim(substr($err . $out, 0, 300)));
    }
}

// ---- HTTP -----------------------------------------------------------------------------------------
$http = null;
if (!isset($opt['skip-http'])) {
    // A whole-system test: nginx, php-fpm and wrk go wherever the scheduler puts them.
    shell_exec('taskset -pc 0-' . ($ncpu - 1) . ' ' . getmypid() . ' >/dev/null 2>&1');
    $http = http_bench($cfg, $ctxBase, $tmp, $redis);
}

// ---- report -------------------------------------------------------------------------------------
$data = [
    'date' => gmdate('Y-m-d H:i') . ' UTC',
    'duration_s' => null,
    // nproc is measured before this process pinned itself (it would say 1 now).
    'machine' => ['cores' => $ncpu] + machine_info() + ['redis' => $redisVersion, 'mysql' => $mysqlVersion],
    'git' => $gitState,
    'ext_build' => $extBuild,
    'config' => $cfg + ['mode_labels' => array_map(fn ($m) => $m[2], MODES)],
    'contenders' => array_map(fn ($d) => array_intersect_key($d, array_flip(['label', 'kind', 'store', 'conn', 'lock'])), $contenders),
    'unavailable' => $unavailable,
    'common_flags' => implode(' ', array_map(fn ($k, $v) => '-d ' . (preg_match('/^[A-Za-z0-9_.\/=:,-]+$/', ini_arg($k, (string) $v))
        ? ini_arg($k, (string) $v) : escapeshellarg(ini_arg($k, (string) $v))), array_keys(bench_common_ini()), bench_common_ini())),
    'floors' => array_map('median', $floors),
    'floors_raw' => $floors,
    'cli' => $results,
    'strace' => $strace,
    'memory' => $memory,
    'http' => $http,
];
$data['duration_s'] = round(microtime(true) - $started);
unset($data['config']['mysql']['pass'], $data['config']['mysql_system']['pass']);
file_put_contents($cfg['out'] . '/latest.json', json_encode($data, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE) . "\n");
$md = report_markdown($data);
file_put_contents($cfg['out'] . '/latest.md', $md);
$chart = report_chart($data, $cfg['out'] . '/latest.png', $tmp);
logline('wrote ' . $cfg['out'] . '/latest.md' . ($chart ? ', latest.png' : ' (no chart: ' . report_chart_error() . ')'));

// Tidy up what the runs stored: the private redis-server goes away with its data; drop our tables.
if ($pdo !== null) {
    foreach (['bench_plain_sessions', 'bench_symfony_sessions', 'cannon_bench'] as $t) {
        try {
            $pdo->exec("DROP TABLE IF EXISTS $t");
        } catch (\Throwable $e) {
        }
    }
}
logline(sprintf('done in %d s', $data['duration_s']));
