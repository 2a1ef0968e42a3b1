<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\DatabaseHandler;
use Cannon\Session\Tests\DatabaseFixtures\DatabaseTestCase;
use Cannon\Session\Tests\DatabaseFixtures\Db;
use Cannon\Session\Tests\DatabaseFixtures\DbChild;
use Cannon\Session\Tests\DatabaseFixtures\LongLived;
use Cannon\Session\Tests\DatabaseFixtures\PrivateMariaDb;
use Cannon\Session\Tests\Support\Env;

require_once __DIR__ . '/fixtures/database/DatabaseTestCase.php';
require_once __DIR__ . '/fixtures/database/LongLived.php';
require_once __DIR__ . '/fixtures/database/PrivateMariaDb.php';

/**
 * A long-lived PHP process (as a php-fpm worker is) keeps its connection across requests; when
 * the server goes away under it, the next request reconnects, and no request fails more than
 * once per reconnect.
 *
 * "Went away" is simulated without touching the shared server's life or globals:
 *   - on the shared server, by KILLing (as root, over the socket) exactly the connections of the
 *     worker process (found through its sockets), so parallel tests are not disturbed;
 *   - on a private server of our own (a temporary datadir, a free port), by restarting it, by
 *     crashing it (SIGKILL), and by a short wait_timeout.
 */
final class DatabaseRestartTest extends DatabaseTestCase
{
    private static ?PrivateMariaDb $private = null;
    private static ?string $privateTable = null;
    private static ?string $noPrivate = null;
    /** @var list<LongLived> */
    private array $workers = [];

    protected static function tableTag(): string
    {
        return 'restart';
    }

    public static function tearDownAfterClass(): void
    {
        self::$private?->destroy();
        self::$private = null;
        parent::tearDownAfterClass();
    }

    protected function tearDown(): void
    {
        foreach ($this->workers as $w) {
            $w->stop();
        }
        $this->workers = [];
    }

    public function modes(): array
    {
        return DbChild::modes();
    }

    private function worker(string $mode, string $dsn, string $id, ?int $port = null): LongLived
    {
        $w = LongLived::start($mode, $dsn, $id, [], $port);
        $this->workers[] = $w;
        return $w;
    }

    /** The private server, made on first use (skips the test where that is impossible). */
    private static function privateServer(): PrivateMariaDb
    {
        if (self::$private === null && self::$noPrivate === null) {
            self::$noPrivate = PrivateMariaDb::unavailable();
            if (self::$noPrivate === null) {
                try {
                    self::$private = PrivateMariaDb::create();
                    self::$privateTable = Db::uniqueTable('private');
                    Db::createTable(self::$privateTable, self::$private->port);
                } catch (\RuntimeException $e) {
                    self::$noPrivate = $e->getMessage();
                }
            }
        }
        if (self::$private === null) {
            self::markTestSkipped('no private MariaDB server: ' . self::$noPrivate);
        }
        return self::$private;
    }

    private static function requireRoot(?string $socket = null): void
    {
        if (!Db::rootAvailable($socket)) {
            self::markTestSkipped('KILL needs root over the MariaDB socket (mariadb -uroot)');
        }
    }

    /**
     * Runs requests until one succeeds (at most 3): no request may fail more than once per
     * reconnect. Returns the successful result.
     */
    private static function recovers(LongLived $w, string $cmd, string $what): array
    {
        $failures = [];
        for ($i = 0; $i < 3; $i++) {
            $res = $w->send($cmd);
            if ($res['ok'] !== false) {
                self::assertLessThanOrEqual(1, count($failures), "$what: more than one failed request\n" . var_export($failures, true));
                self::assertSame([], $res['warnings'], $what);
                return $res;
            }
            $failures[] = $res;
        }
        self::fail("$what: no request succeeded after the reconnect\n" . var_export($failures, true));
    }

    private static function assertCycle(int $n, array $res, string $what = ''): void
    {
        self::assertSame($n, $res['ok'], "$what\n" . var_export($res, true));
        self::assertSame([], $res['warnings'], $what);
    }

    // ---- the shared server: KILL the worker's connections ------------------------------------------

    /** @dataProvider modes */
    public function testOneConnectionIsReusedAcrossRequests(string $mode): void
    {
        $w = $this->worker($mode, Db::dsn(self::table()), self::newId());
        for ($n = 1; $n <= 5; $n++) {
            self::assertCycle($n, $w->send('cycle'));
        }
        self::assertCount(1, Db::clientPorts($w->pid(), (int) parse_url(Db::dsn(self::table()), PHP_URL_PORT)), 'connections the worker holds open');
    }

    /** @dataProvider modes */
    public function testKilledConnectionsBetweenRequests(string $mode): void
    {
        self::requireRoot();
        $id = self::newId();
        $w = $this->worker($mode, Db::dsn(self::table()), $id);
        self::assertCycle(1, $w->send('cycle'));
        $n = 1;
        for ($kill = 1; $kill <= 3; $kill++) {
            self::assertNotSame([], Db::killConnectionsOf($w->pid()), 'the worker had no connection to kill');
            $res = self::recovers($w, 'cycle', "after KILL #$kill");
            self::assertSame(++$n, $res['ok'], 'a successful request lost an earlier update');
        }
        self::assertSame('n|i:' . $n . ';', Db::row(self::table(), $id)['data']);
    }

    /**
     * The worker holds the session's lock (on the killed connection) when its connection dies:
     * the lock died with it. The write takes the lock again on a new connection (nobody else
     * took it) and goes through.
     * @dataProvider modes
     */
    public function testKilledConnectionInTheMiddleOfARequest(string $mode): void
    {
        self::requireRoot();
        $id = self::newId();
        $w = $this->worker($mode, Db::dsn(self::table()), $id);
        self::assertCycle(1, $w->send('cycle'));
        self::assertSame(1, $w->send('open')['ok']);
        self::assertNotSame([], Db::killConnectionsOf($w->pid()));
        self::assertCycle(2, $w->send('close'), 'the write after the lock connection was killed');
        self::assertSame('n|i:2;', Db::row(self::table(), $id)['data']);
        self::assertCycle(3, $w->send('cycle'));
    }

    /**
     * php-fpm forks its workers after start-up: a child must not use the connection it inherited
     * (replies would cross) but open its own, and the parent's stays usable.
     * @dataProvider modes
     */
    public function testAForkedChildUsesAConnectionOfItsOwn(string $mode): void
    {
        if (!function_exists('pcntl_fork')) {
            self::markTestSkipped('pcntl is not available');
        }
        $id = self::newId();
        $port = (int) parse_url(Db::dsn(self::table()), PHP_URL_PORT);
        $vars = self::vars(['id' => $id, 'port' => $port, 'db' => __DIR__ . '/fixtures/database/Db.php']);
        $r = DbChild::run($mode, Db::dsn(self::table()), $vars . <<<'PHP'
            require $db;
            use Cannon\Session\Tests\DatabaseFixtures\Db;
            $cycle = function () use ($id): int|false {
                session_id($id);
                if (!session_start()) {
                    return false;
                }
                $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
                $n = $_SESSION['n'];
                return session_write_close() ? $n : false;
            };
            $log = ['parent' => $cycle()];
            $before = Db::clientPorts(getmypid(), $port);
            $pid = pcntl_fork();
            if ($pid === 0) {
                $inherited = Db::clientPorts(getmypid(), $port);
                $n = $cycle();
                $own = array_values(array_diff(Db::clientPorts(getmypid(), $port), $inherited));
                // A plain exit, as a worker that ends: it must not close the parent's connection.
                exit($n === 2 && count($own) === 1 ? 0 : 1);
            }
            pcntl_waitpid($pid, $status);
            $log['child'] = pcntl_wifexited($status) ? pcntl_wexitstatus($status) : 'signalled';
            $log['after'] = [$cycle(), $cycle()];
            $log['same connection'] = $before !== [] && Db::clientPorts(getmypid(), $port) === $before;
            out($log);
            PHP);
        self::assertChildOk($r);
        self::assertSame(['parent' => 1, 'child' => 0, 'after' => [3, 4], 'same connection' => true], $r['out']);
        self::assertSame('n|i:4;', Db::row(self::table(), $id)['data']);
    }

    // ---- a private server: restart, crash, wait_timeout --------------------------------------------

    public function restartCases(): array
    {
        $cases = [];
        foreach (DbChild::modes() as $name => [$mode]) {
            $cases["$name, clean restart"] = [$mode, false];
            $cases["$name, crash (SIGKILL)"] = [$mode, true];
        }
        return $cases;
    }

    /** @dataProvider restartCases */
    public function testServerRestartBetweenAndDuringRequests(string $mode, bool $crash): void
    {
        $server = self::privateServer();
        $table = (string) self::$privateTable;
        $id = self::newId();
        $w = $this->worker($mode, Db::dsn($table, [], $server->port), $id, $server->port);
        self::assertCycle(1, $w->send('cycle'));
        self::assertCycle(2, $w->send('cycle'));

        $server->restart($crash);
        self::assertSame(3, self::recovers($w, 'cycle', 'after a restart between requests')['ok']);

        // Restarted while the request holds the lock: the write still goes through.
        self::assertSame(3, $w->send('open')['ok']);
        $server->restart($crash);
        $close = $w->send('close');
        self::assertCycle(4, $close, 'the write after a restart in the middle of the request');
        self::assertSame(5, self::recovers($w, 'cycle', 'after a restart during a request')['ok']);
        self::assertSame('n|i:5;', Db::row($table, $id, $server->port)['data']);
    }

    /**
     * Statements are prepared once per connection and reused by every later request of the
     * process (the private server has no other client, so its global counters are ours).
     * @dataProvider modes
     */
    public function testPreparedStatementsAreReusedAcrossRequests(string $mode): void
    {
        $server = self::privateServer();
        $table = (string) self::$privateTable;
        $w = $this->worker($mode, Db::dsn($table, [], $server->port), self::newId(), $server->port);
        self::assertCycle(1, $w->send('cycle'));
        self::assertCycle(2, $w->send('cycle'));
        $counters = static function () use ($server): array {
            $out = [];
            foreach (explode("\n", trim($server->root("SHOW GLOBAL STATUS WHERE Variable_name IN ('Com_stmt_prepare', 'Com_stmt_close', 'Connections')"))) as $line) {
                [$k, $v] = explode("\t", $line);
                $out[$k] = (int) $v;
            }
            return $out;
        };
        $before = $counters();
        for ($n = 3; $n <= 12; $n++) {
            self::assertCycle($n, $w->send('cycle'));
        }
        $after = $counters();
        self::assertSame(0, $after['Com_stmt_prepare'] - $before['Com_stmt_prepare'], 'statements prepared again by later requests');
        self::assertSame(0, $after['Com_stmt_close'] - $before['Com_stmt_close']);
        self::assertSame(1, $after['Connections'] - $before['Connections'], 'new connections by later requests (1: the counter query itself)');
    }

    /**
     * The server closes a connection idle for wait_timeout seconds (MariaDB sends error 4031
     * first). The next request must not fail because of it.
     * @dataProvider modes
     */
    public function testIdleConnectionClosedByWaitTimeout(string $mode): void
    {
        $server = self::privateServer();
        $table = (string) self::$privateTable;
        $server->root('SET GLOBAL wait_timeout = 1');
        try {
            $id = self::newId();
            $w = $this->worker($mode, Db::dsn($table, [], $server->port), $id, $server->port);
            self::assertCycle(1, $w->send('cycle'));
            usleep(1_600_000);
            self::assertSame([], Db::clientPorts($w->pid(), $server->port), 'the server did not close the idle connection');
            self::assertSame(2, self::recovers($w, 'cycle', 'after wait_timeout')['ok']);

            // Idle for wait_timeout in the middle of a request: the lock went with the
            // connection; the write takes it again and goes through.
            self::assertSame(2, $w->send('open')['ok']);
            usleep(1_600_000);
            self::assertCycle(3, $w->send('close'), 'the write after wait_timeout during the request');
            self::assertCycle(4, $w->send('cycle'));
            self::assertSame('n|i:4;', Db::row($table, $id, $server->port)['data']);
        } finally {
            $server->root('SET GLOBAL wait_timeout = 28800');
        }
    }

    /**
     * A server that stops answering (SIGSTOP) on a connection that is already open: the request
     * gives up after `timeout`, and once the server resumes the next request works.
     * @dataProvider modes
     */
    public function testStoppedServerIsBoundedAndRecovers(string $mode): void
    {
        $server = self::privateServer();
        $table = (string) self::$privateTable;
        $id = self::newId();
        $w = $this->worker($mode, Db::dsn($table, ['connect_timeout' => '0.5', 'timeout' => '0.5'], $server->port), $id, $server->port);
        self::assertCycle(1, $w->send('cycle'));
        $server->signal(SIGSTOP);
        try {
            $t = microtime(true);
            $res = $w->send('cycle');
            $took = microtime(true) - $t;
        } finally {
            $server->signal(SIGCONT);
        }
        self::assertFailedCleanly($mode, $res, 'Cannon\Session\ConnectionException', ['did not answer within 0.5s']);
        self::assertLessThan(1.0 + 0.4, $took, 'at most one connect plus one call');
        self::assertSame(2, self::recovers($w, 'cycle', 'after the server resumed')['ok']);
    }

    /** A password with every character a DSN cares about, percent-encoded (or raw in an array or a file). */
    public function testPasswordWithSpecialCharacters(): void
    {
        $server = self::privateServer();
        $table = (string) self::$privateTable;
        $user = 'cannon_sp';
        $password = "p@ss:w/rd%2F?&=#\u{e9} 'x\"";
        $db = Env::mysqlParts()['db'];
        $server->root(sprintf(
            "CREATE USER IF NOT EXISTS '%1\$s'@'127.0.0.1' IDENTIFIED BY '%2\$s'; GRANT ALL ON `%3\$s`.* TO '%1\$s'@'127.0.0.1'",
            $user,
            str_replace(['\\', "'"], ['\\\\', "\\'"], $password),
            $db
        ));
        $base = ['host' => '127.0.0.1', 'port' => $server->port, 'username' => $user, 'dbname' => $db, 'table' => $table];
        $ways = [
            'DSN' => sprintf('mysql://%s:%s@127.0.0.1:%d/%s?table=%s', $user, rawurlencode($password), $server->port, $db, $table),
            'array' => $base + ['password' => $password],
        ];
        foreach ($ways as $way => $options) {
            $h = new DatabaseHandler($options);
            $id = self::newId();
            self::assertTrue($h->write($id, 'way|s:' . strlen($way) . ':"' . $way . '";'), $way);
            self::assertSame('way|s:' . strlen($way) . ':"' . $way . '";', $h->read($id), $way);
            $h->close();
        }

        $file = tempnam(sys_get_temp_dir(), 'cannon-pw-');
        file_put_contents($file, $password . "\n");
        try {
            $id = self::newId();
            $dsn = sprintf('mysql://%s@127.0.0.1:%d/%s?table=%s&password_file=%s', $user, $server->port, $db, $table, rawurlencode($file));
            $r = DbChild::run(DbChild::NATIVE, $dsn, self::vars(['id' => $id]) . <<<'PHP'
                session_id($id);
                session_start() || exit(2);
                $_SESSION['way'] = 'file';
                session_write_close() || exit(3);
                PHP);
        } finally {
            unlink($file);
        }
        self::assertChildOk($r);
        self::assertSame('way|s:4:"file";', Db::row($table, $id, $server->port)['data'] ?? null);
    }
}
