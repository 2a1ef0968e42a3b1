<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\DatabaseHandler;
use Cannon\Session\RedisHandler;
use Cannon\Session\Tests\Fixtures\Locking\LockChild;
use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\FakeServer;
use Cannon\Session\Tests\Support\FreePort;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/locking/LockChild.php';

/**
 * Session locking (issue 4), across real processes: every scenario is written once here and runs
 * for each driver (Redis, MySQL) through each API (native handler, handler classes, Session).
 * The concrete classes at the end of the file pick one API trait and one driver trait.
 *
 * Children are PHP processes running a scenario body against LockChild (fixtures/locking/). The
 * parent sees the store through a handler class with `lock=0`, so seeding and checking never take
 * a lock. Session data is PHP's serialize() of the session array in every API (the native and
 * class children use session.serialize_handler=php_serialize).
 *
 * Timing: children that must hold a lock wait for a signal file rather than sleep, so a test
 * lasts as long as its scenario needs and no longer.
 */
abstract class LockingTestCase extends TestCase
{
    /** Processes × increments of the counting test. */
    protected const PROCS = 8;
    protected const INCREMENTS = 200;

    private const SESSION_INI = [
        'session.use_cookies' => '0',
        'session.use_only_cookies' => '0',
        'session.use_trans_sid' => '0',
        'session.cache_limiter' => '',
        'session.use_strict_mode' => '0',
        'session.lazy_write' => '1',
        'session.gc_probability' => '0',
        'session.gc_maxlifetime' => '600',
        'session.serialize_handler' => 'php_serialize',
        'memory_limit' => '128M',
    ];

    /** @var array<int, array{pid:int, proc:resource, dir:string}> children not collected yet */
    private array $children = [];
    /** @var list<resource> `php -S` servers started by this test */
    private array $servers = [];
    private string $tmp = '';

    // ----- provided by the API trait -----------------------------------------------------------

    /** LockChild::NATIVE, CLASS_API or SESSION. */
    abstract protected static function api(): string;

    /** A waiter that gave up at lock_wait_timeout said so, the API's way. */
    abstract protected function assertLockTimeoutReported(array $report): void;

    /** A holder whose expired lock was taken over had its write refused, the API's way. */
    abstract protected function assertWriteRefused(array $report): void;

    // ----- provided by the driver trait --------------------------------------------------------

    /** This class's backend (its own key prefix or table), with $options in the query string. */
    abstract protected static function dsn(array $options = [], ?string $base = null): string;

    abstract protected static function createStore(): void;

    abstract protected static function dropStore(): void;

    /** Whether lock_ttl frees the lock of a holder that is still running. */
    abstract protected static function lockTtlApplies(): bool;

    /** How soon the request after a SIGKILLed holder got the lock (lock_ttl=1). */
    abstract protected function assertRecoveredAfterKill(float $sinceLocked, float $sinceKilled): void;

    /** Nothing is left locked on $id (where the backend lets us look). */
    abstract protected function assertNoLockLeft(string $id): void;

    // ----- fixture ----------------------------------------------------------------------------

    public static function setUpBeforeClass(): void
    {
        static::createStore();
    }

    public static function tearDownAfterClass(): void
    {
        static::dropStore();
    }

    protected function setUp(): void
    {
        $this->tmp = PhpProcess::tempDir('cannon-lock-');
    }

    protected function tearDown(): void
    {
        foreach ($this->children as $h) {
            PhpProcess::wait($h, 0); // kills what a failed test left running
        }
        $this->children = [];
        foreach ($this->servers as $proc) {
            PhpProcess::kill($proc);
            proc_close($proc);
        }
        $this->servers = [];
        PhpProcess::removeDir($this->tmp);
    }

    protected static function newId(): string
    {
        return bin2hex(random_bytes(16));
    }

    /** `$dsn` with `k=v` pairs added to its query string (values are plain: no encoding). */
    protected static function withQuery(string $dsn, array $pairs): string
    {
        if ($pairs === []) {
            return $dsn;
        }
        $q = [];
        foreach ($pairs as $k => $v) {
            $q[] = "$k=$v";
        }
        return $dsn . (str_contains($dsn, '?') ? '&' : '?') . implode('&', $q);
    }

    /** A handler on this class's backend that never locks: the parent's view of the store. */
    private static function peer(?string $base): RedisHandler|DatabaseHandler
    {
        $dsn = static::dsn(['lock' => 0], $base);
        return str_starts_with($dsn, 'mysql') ? new DatabaseHandler($dsn) : new RedisHandler($dsn);
    }

    protected static function seed(string $id, array $data, ?string $base = null): void
    {
        self::peer($base)->write($id, serialize($data));
    }

    protected static function stored(string $id, ?string $base = null): ?array
    {
        $raw = self::peer($base)->read($id);
        return $raw === '' ? null : unserialize($raw);
    }

    /** A path in this test's directory; the children wait for it to exist. */
    protected function signalFile(string $name): string
    {
        return "{$this->tmp}/$name";
    }

    protected static function fire(string $signalFile): float
    {
        $at = microtime(true);
        touch($signalFile);
        return $at;
    }

    /**
     * Starts a child PHP on this class's API and backend running $body, with each of $vars as a
     * PHP variable. $options go into the DSN; $base replaces the driver's server; $ini adds INI
     * settings.
     * @return array{pid:int, proc:resource, dir:string}
     */
    protected function spawn(string $body, array $vars = [], array $options = [], ?string $base = null, array $ini = []): array
    {
        $dsn = static::dsn($options, $base);
        $h = PhpProcess::start(self::script($dsn, $vars) . $body . "\n", $ini + self::childIni($dsn));
        $this->children[$h['pid']] = $h;
        return $h;
    }

    /** The start of a child's script: LockChild on this class's API, and $vars. */
    private static function script(string $dsn, array $vars): string
    {
        $code = "<?php\nrequire " . var_export(__DIR__ . '/fixtures/locking/LockChild.php', true) . ";\n"
            . "use Cannon\\Session\\Tests\\Fixtures\\Locking\\LockChild;\n"
            . 'LockChild::init(' . var_export(static::api(), true) . ', ' . var_export($dsn, true) . ");\n";
        foreach ($vars as $name => $value) {
            $code .= "\$$name = " . var_export($value, true) . ";\n";
        }
        return $code;
    }

    /** @return array<string, string> */
    private static function childIni(string $dsn): array
    {
        $ini = self::SESSION_INI;
        if (static::api() === LockChild::NATIVE) {
            $ini['session.save_handler'] = 'cannon';
            // PHP's -d parser needs the quotes around '=', '?' and '&'.
            $ini['session.save_path'] = '"' . $dsn . '"';
        }
        return $ini;
    }

    /**
     * A `php -S` server (one long-lived process serving request after request, as a php-fpm
     * worker does) whose every request runs $body on this class's API and backend.
     * @return array{proc: resource, pid: int, url: string}
     */
    protected function serve(string $body): array
    {
        $dsn = static::dsn();
        file_put_contents("{$this->tmp}/router.php", self::script($dsn, []) . $body . "\n");
        $ini = ['display_errors' => '1', 'log_errors' => '0', 'error_reporting' => '-1', 'html_errors' => '0'] + self::childIni($dsn);
        for ($attempt = 0; $attempt < 3; $attempt++) {
            $port = FreePort::get();
            $cmd = [PHP_BINARY, '-d', 'extension=' . Env::extPath()];
            foreach ($ini as $k => $v) {
                array_push($cmd, '-d', "$k=$v");
            }
            array_push($cmd, '-S', "127.0.0.1:$port", "{$this->tmp}/router.php");
            $null = ['file', '/dev/null', 'w'];
            $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => $null, 2 => $null], $pipes, $this->tmp);
            $this->assertIsResource($proc, 'cannot start php -S');
            $this->servers[] = $proc;
            $deadline = microtime(true) + 5;
            while (microtime(true) < $deadline) {
                $sock = @stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 0.2);
                if ($sock !== false) {
                    fclose($sock);
                    return ['proc' => $proc, 'pid' => proc_get_status($proc)['pid'], 'url' => "http://127.0.0.1:$port/"];
                }
                usleep(10000);
            }
        }
        $this->fail('php -S did not start');
    }

    /** GET $url; the body whatever the status. */
    protected static function httpGet(string $url): string
    {
        $ctx = stream_context_create(['http' => ['timeout' => 15, 'ignore_errors' => true]]);
        return (string) @file_get_contents($url, false, $ctx);
    }

    /**
     * Waits for a child to exit (killing it after $timeout); 'report' holds what it sent with
     * LockChild::report(), or null.
     */
    protected function finish(array $h, float $timeout = 20): array
    {
        unset($this->children[$h['pid']]);
        $r = PhpProcess::wait($h, $timeout);
        $r['report'] = null;
        $at = strrpos($r['stdout'], LockChild::REPORT);
        if ($at !== false) {
            $line = (string) strtok(substr($r['stdout'], $at + strlen(LockChild::REPORT)), "\n");
            $r['report'] = unserialize((string) base64_decode($line, true));
        }
        return $r;
    }

    protected static function output(array $h): string
    {
        return (string) @file_get_contents($h['dir'] . '/stdout');
    }

    /**
     * Whether the child has exited. Looks at /proc, never at proc_get_status(), which in PHP 8.2
     * reports a child's exit code only once (PhpProcess::wait() needs it).
     */
    protected static function exited(array $h): bool
    {
        $stat = @file_get_contents("/proc/{$h['pid']}/stat");
        return $stat === false || preg_match('/\) [ZX] /', $stat) === 1;
    }

    /** Waits until the child printed $word (LockChild::mark); returns when it was seen. */
    protected function waitMark(array $h, string $word, float $timeout = 10): float
    {
        $this->waitOutput($h, '/\n' . preg_quote($word, '/') . '\n/', $timeout);
        return microtime(true);
    }

    /** Waits until the child's stdout matches $regex; returns the matches. */
    protected function waitOutput(array $h, string $regex, float $timeout = 10): array
    {
        $deadline = microtime(true) + $timeout;
        while (true) {
            $gone = self::exited($h);
            if (preg_match($regex, self::output($h), $m) === 1) {
                return $m;
            }
            if ($gone || microtime(true) > $deadline) {
                $r = $this->finish($h, 0);
                $this->fail("the child's output never matched $regex\n" . self::describe($r));
            }
            usleep(1000);
        }
    }

    protected static function describe(array $r): string
    {
        $out = preg_replace('/' . preg_quote(LockChild::REPORT, '/') . '\S*/', '', $r['stdout']);
        return sprintf(
            "exit=%d timedOut=%s\nreport: %s\n--- stdout ---\n%s\n--- stderr ---\n%s",
            $r['exit'],
            $r['timedOut'] ? 'yes' : 'no',
            var_export($r['report'] ?? null, true),
            substr(trim((string) $out), 0, 3000),
            substr($r['stderr'], 0, 3000)
        );
    }

    /** The child exited 0, quietly, and reported no warning, notice or exception. */
    protected function assertCleanRun(array $r, string $what): array
    {
        $this->assertFalse($r['timedOut'], "$what timed out\n" . self::describe($r));
        $this->assertSame(0, $r['exit'], "$what failed\n" . self::describe($r));
        $this->assertSame('', $r['stderr'], "$what wrote to stderr\n" . self::describe($r));
        $this->assertIsArray($r['report'], "$what sent no report\n" . self::describe($r));
        $this->assertSame([], $r['report']['errors'], "$what reported errors\n" . self::describe($r));
        return $r['report'];
    }

    /** Whether one of the report's errors matches $regex. */
    protected static function hasError(array $report, string $regex): bool
    {
        return preg_grep($regex, $report['errors'] ?? []) !== [];
    }

    protected static function note(string $message): void
    {
        fwrite(STDERR, sprintf("\n  [%s] %s", (new \ReflectionClass(static::class))->getShortName(), $message));
    }

    /**
     * A child that takes the lock on $id (changing nothing unless $set says so), prints 'locked'
     * and holds the lock until $release exists (at most $holdSec), then closes and reports.
     * Returns once the lock is held.
     */
    protected function holdLock(string $id, string $release, array $set = [], array $options = [], float $holdSec = 5): array
    {
        $h = $this->spawn(<<<'PHP'
            if (!LockChild::start($id)) {
                LockChild::report(['ok' => false]);
                exit(1);
            }
            foreach ($set as $k => $v) {
                LockChild::set($k, $v);
            }
            LockChild::mark('locked');
            LockChild::waitFor($release, $holdSec);
            $before = microtime(true);
            $closed = LockChild::close();
            $after = microtime(true);
            LockChild::report(['ok' => true, 'closed' => $closed, 'before' => $before, 'after' => $after]);
            PHP, ['id' => $id, 'release' => $release, 'set' => $set, 'holdSec' => $holdSec], $options);
        $this->waitMark($h, 'locked');
        return $h;
    }

    /** Collects a holdLock() child, which must have closed cleanly. */
    protected function finishHolder(array $h): array
    {
        $rep = $this->assertCleanRun($this->finish($h), 'the lock holder');
        $this->assertTrue($rep['closed'], 'the holder could not close its session');
        return $rep;
    }

    /** A child that starts $id (timing the start), reads $key, closes and reports. */
    protected const PROBE = <<<'PHP'
        $t = microtime(true);
        $ok = LockChild::start($id, $readOnly);
        $acquiredAt = microtime(true);
        $waited = $acquiredAt - $t;
        $value = LockChild::get($key);
        $closed = $readOnly || !$ok ? null : LockChild::close();
        LockChild::report(compact('ok', 'acquiredAt', 'waited', 'value', 'closed') + ['id' => LockChild::id(), 'stats' => LockChild::lockStats()]);
        PHP;

    protected function probe(string $id, string $key, array $options = [], bool $readOnly = false, array $ini = []): array
    {
        return $this->finish($this->spawn(self::PROBE, ['id' => $id, 'key' => $key, 'readOnly' => $readOnly], $options, null, $ini));
    }

    // ----- 1. no lost updates -----------------------------------------------------------------

    /**
     * P processes start together, each doing M read-increment-write cycles on one session.
     * @return array{0: ?int, 1: float} the final value and the run's wall time
     */
    private function runIncrements(array $options): array
    {
        $id = self::newId();
        self::seed($id, ['n' => 0]);
        $go = $this->signalFile('go');
        $body = <<<'PHP'
            LockChild::mark('ready');
            LockChild::waitFor($go, 30);
            $failures = 0;
            for ($i = 0; $i < $m; $i++) {
                if (!LockChild::start($id)) {
                    $failures++;
                    continue;
                }
                LockChild::set('n', (int) LockChild::get('n') + 1);
                if (!LockChild::close()) {
                    $failures++;
                }
            }
            LockChild::report(['failures' => $failures]);
            PHP;
        $children = [];
        for ($p = 0; $p < self::PROCS; $p++) {
            $children[] = $this->spawn($body, ['id' => $id, 'go' => $go, 'm' => self::INCREMENTS], $options);
        }
        foreach ($children as $h) {
            $this->waitMark($h, 'ready');
        }
        $started = self::fire($go);
        foreach ($children as $p => $h) {
            $rep = $this->assertCleanRun($this->finish($h, 60), "incrementing child $p");
            $this->assertSame(0, $rep['failures'], "incrementing child $p had failed requests");
        }
        return [self::stored($id)['n'] ?? null, microtime(true) - $started];
    }

    public function testConcurrentIncrementsLoseNothing(): void
    {
        [$final, $secs] = $this->runIncrements([]);
        $expected = self::PROCS * self::INCREMENTS;
        self::note(sprintf('locked: %d×%d increments → %s in %.2f s', self::PROCS, self::INCREMENTS, var_export($final, true), $secs));
        $this->assertSame($expected, $final, 'lost updates under locking');
    }

    public function testWithoutLockingUpdatesAreLost(): void
    {
        [$final, $secs] = $this->runIncrements(['lock' => 0]);
        $expected = self::PROCS * self::INCREMENTS;
        self::note(sprintf('lock=0: %d×%d increments → %s in %.2f s', self::PROCS, self::INCREMENTS, var_export($final, true), $secs));
        $this->assertIsInt($final);
        $this->assertLessThan($expected, $final, 'the unlocked baseline lost nothing: the counting test proves little');
    }

    // ----- 2. a SIGKILLed holder ----------------------------------------------------------------

    public function testSigkilledHolderBlocksOnlyUntilItsLockIsFreed(): void
    {
        $id = self::newId();
        self::seed($id, ['n' => 5]);
        $options = ['lock_ttl' => 1];
        $holder = $this->spawn(<<<'PHP'
            if (LockChild::start($id)) {
                LockChild::set('n', 1000);
                LockChild::mark('locked');
            }
            sleep(30);
            PHP, ['id' => $id], $options);
        $lockedAt = $this->waitMark($holder, 'locked');
        $this->assertTrue(posix_kill($holder['pid'], 9), 'kill -9 failed');
        $killedAt = microtime(true);
        $this->assertSame(128 + 9, $this->finish($holder, 5)['exit'], 'the holder did not die of SIGKILL');

        $next = $this->spawn(<<<'PHP'
            $ok = LockChild::start($id);
            $acquiredAt = microtime(true);
            $n = LockChild::get('n');
            LockChild::set('n', $n + 1);
            $closed = LockChild::close();
            LockChild::report(compact('ok', 'acquiredAt', 'n', 'closed'));
            PHP, ['id' => $id], $options);
        $rep = $this->assertCleanRun($this->finish($next), 'the request after the kill');
        $this->assertTrue($rep['ok']);
        $this->assertSame(5, $rep['n'], 'the killed holder\'s change must not be visible');
        $this->assertTrue($rep['closed']);
        $this->assertSame(['n' => 6], self::stored($id));
        self::note(sprintf('after SIGKILL: lock acquired %.0f ms after the holder locked, %.0f ms after the kill',
            ($rep['acquiredAt'] - $lockedAt) * 1000, ($rep['acquiredAt'] - $killedAt) * 1000));
        $this->assertRecoveredAfterKill($rep['acquiredAt'] - $lockedAt, $rep['acquiredAt'] - $killedAt);
    }

    // ----- 3. every way a request ends ----------------------------------------------------------

    /**
     * PHP run before the session starts, PHP that then ends the request, the CLI exit code, and
     * whether the session is saved.
     * @return array<string, array{string, string, int, bool}>
     */
    public static function endings(): array
    {
        return [
            'normal end without session_write_close()' => ['', '', 0, true],
            'exit()' => ['', 'exit(3);', 3, true],
            'uncaught exception' => ['', 'throw new \RuntimeException("boom");', 255, false],
            'fatal error (undefined function)' => ['', 'cannon_lock_test_no_such_function();', 255, false],
            'memory exhaustion' => ['', 'ini_set("memory_limit", "24M"); $hog = []; while (true) { $hog[] = str_repeat("x", 1 << 20); }', 255, false],
            // exit() in a shutdown function skips those registered after it (Session::start()'s close).
            'exit() in an earlier shutdown function' => ['register_shutdown_function(function () { exit(4); });', '', 4, false],
        ];
    }

    /** @dataProvider endings */
    public function testEveryWayARequestEndsReleasesItsLock(string $prelude, string $ending, int $exit, bool $saved): void
    {
        $id = self::newId();
        self::seed($id, ['n' => 0]);
        $holder = $this->finish($this->spawn($prelude . <<<'PHP'

            if (!LockChild::start($id)) {
                LockChild::report();
                exit(1);
            }
            LockChild::set('n', 1);
            LockChild::mark('locked');

            PHP . $ending, ['id' => $id]));
        $this->assertFalse($holder['timedOut'], self::describe($holder));
        $this->assertSame($exit, $holder['exit'], self::describe($holder));
        $this->assertStringContainsString("\nlocked\n", $holder['stdout'], self::describe($holder));
        $this->assertNoLockLeft($id);

        $rep = $this->assertCleanRun($this->probe($id, 'n'), 'the next request');
        $this->assertTrue($rep['ok']);
        $this->assertLessThan(0.25, $rep['waited'], sprintf('the next request waited %.3f s for the lock', $rep['waited']));
        if ($saved) {
            $this->assertSame(1, $rep['value'], 'the session was not saved at the end of the request');
        }
    }

    /**
     * The same in a long-lived process (php -S, like a php-fpm worker): a request that ends any
     * way must leave nothing locked for the next request, although its process lives on.
     * @dataProvider endings
     */
    public function testEveryWayARequestEndsReleasesItsLockInALongLivedWorker(string $prelude, string $ending, int $exit, bool $saved): void
    {
        $server = $this->serve($prelude . <<<'PHP'

            if (!LockChild::start($_GET['id'])) {
                echo 'not locked: ', implode(' / ', LockChild::$errors);
                return;
            }
            LockChild::set('n', 1);
            // The response may be lost with the request (memory exhaustion): leave a trace.
            file_put_contents(__DIR__ . '/locked-' . $_GET['id'], 'x', FILE_APPEND);
            echo "locked\n";

            PHP . $ending);
        $id = self::newId();
        self::seed($id, ['n' => 0]);
        $response = self::httpGet($server['url'] . '?id=' . $id);
        $this->assertFileExists("{$this->tmp}/locked-$id", "the request did not lock the session: $response");
        $this->assertFalse(self::exited($server), 'the server died with the request');
        $this->assertNoLockLeft($id);

        $rep = $this->assertCleanRun($this->probe($id, 'n'), 'the next request');
        $this->assertTrue($rep['ok']);
        $this->assertLessThan(0.25, $rep['waited'], sprintf('the next request waited %.3f s for the lock', $rep['waited']));
        if ($saved) {
            $this->assertSame(1, $rep['value'], 'the session was not saved at the end of the request');
        }
        // ... and the worker itself locks that way twice in a row.
        $id2 = self::newId();
        self::seed($id2, ['n' => 0]);
        self::httpGet($server['url'] . '?id=' . $id2);
        self::httpGet($server['url'] . '?id=' . $id2);
        $this->assertStringEqualsFile("{$this->tmp}/locked-$id2", 'xx', 'the worker could not lock the session again');
    }

    // ----- 4. read-only requests never wait ------------------------------------------------------

    public function testReadOnlyRequestsNeverWaitForTheLock(): void
    {
        $id = self::newId();
        self::seed($id, ['v' => 'old']);
        $release = $this->signalFile('release');
        $writer = $this->holdLock($id, $release, ['v' => 'new'], [], 2.0);

        $rep = $this->assertCleanRun($this->probe($id, 'v', [], true), 'the read-only request');
        $this->assertTrue($rep['ok']);
        $this->assertSame('old', $rep['value'], 'the reader must see the data as it was before the writer');
        $this->assertLessThan(0.2, $rep['waited'], sprintf('the read-only start took %.3f s', $rep['waited']));

        self::fire($release);
        $this->finishHolder($writer);
        $this->assertSame(['v' => 'new'], self::stored($id), 'the reader disturbed the writer');
    }

    // ----- 5. a holder that outlives lock_ttl ----------------------------------------------------

    public function testHolderOutlivingLockTtlNeverOverwritesANewerHolder(): void
    {
        $id = self::newId();
        self::seed($id, ['n' => 0, 'v' => 'seed']);
        $release = $this->signalFile('release');
        $a = $this->spawn(<<<'PHP'
            if (!LockChild::start($id)) {
                LockChild::report(['ok' => false]);
                exit(1);
            }
            LockChild::set('n', LockChild::get('n') + 1);
            LockChild::set('v', 'A');
            LockChild::mark('locked');
            LockChild::waitFor($release, 5);
            $closed = LockChild::close();
            LockChild::report(['ok' => true, 'closed' => $closed]);
            PHP, ['id' => $id, 'release' => $release], ['lock_ttl' => 1]);
        $this->waitMark($a, 'locked');
        $b = $this->spawn(<<<'PHP'
            $ok = LockChild::start($id);
            $n = LockChild::get('n');
            LockChild::set('n', $n + 1);
            LockChild::set('v', 'B');
            $closed = LockChild::close();
            LockChild::report(compact('ok', 'n', 'closed'));
            PHP, ['id' => $id], ['lock_ttl' => 1]);

        // Give B time to get in and finish while A is still running: lock_ttl is 1 s.
        $deadline = microtime(true) + (static::lockTtlApplies() ? 2.5 : 1.5);
        while (!self::exited($b) && microtime(true) < $deadline) {
            usleep(5000);
        }
        $bFirst = self::exited($b);
        self::fire($release);
        $ra = $this->finish($a);
        $repB = $this->assertCleanRun($this->finish($b), 'B');
        $this->assertTrue($repB['ok']);
        $this->assertTrue($repB['closed']);
        $this->assertSame(0, $ra['exit'], self::describe($ra));
        $repA = $ra['report'];

        if (static::lockTtlApplies()) {
            $this->assertTrue($bFirst, 'B did not get the lock after A\'s lock_ttl');
            $this->assertSame(0, $repB['n'], 'B must read the data as it was before A');
            $this->assertWriteRefused($repA);
            $this->assertSame(['n' => 1, 'v' => 'B'], self::stored($id), 'A overwrote the newer holder\'s data');
        } else {
            // The lock lives as long as A's connection: B waits for A and builds on A's write.
            $this->assertFalse($bFirst, 'B got in while A still held the lock');
            $this->assertSame([], $repA['errors'], self::describe($ra));
            $this->assertTrue($repA['closed']);
            $this->assertSame(1, $repB['n']);
            $this->assertSame(['n' => 2, 'v' => 'B'], self::stored($id));
        }
    }

    // ----- 6. lock wait timeout ------------------------------------------------------------------

    public function testWaiterGivesUpAtLockWaitTimeout(): void
    {
        $id = self::newId();
        self::seed($id, ['v' => 'old']);
        $release = $this->signalFile('release');
        $holder = $this->holdLock($id, $release, [], [], 3.0);

        $r = $this->probe($id, 'v', ['lock_wait_timeout' => 0.5]);
        $this->assertFalse($r['timedOut'], self::describe($r));
        $this->assertSame(0, $r['exit'], self::describe($r));
        $rep = $r['report'];
        $this->assertGreaterThanOrEqual(0.45, $rep['waited'], self::describe($r));
        $this->assertLessThan(1.2, $rep['waited'], self::describe($r));
        $this->assertLockTimeoutReported($rep);

        self::fire($release);
        $this->finishHolder($holder);
        $this->assertSame(['v' => 'old'], self::stored($id));
    }

    public function testReadOnlyLockFailPolicyGivesTheDataAndSkipsTheWrite(): void
    {
        $id = self::newId();
        self::seed($id, ['v' => 'old']);
        $release = $this->signalFile('release');
        $holder = $this->holdLock($id, $release, [], [], 3.0);

        $r = $this->finish($this->spawn(<<<'PHP'
            $t = microtime(true);
            $ok = LockChild::start($id);
            $waited = microtime(true) - $t;
            $value = LockChild::get('v');
            LockChild::set('v', 'waiter');
            $closed = LockChild::close();
            LockChild::report(compact('ok', 'waited', 'value', 'closed'));
            PHP, ['id' => $id], ['lock_wait_timeout' => 0.5, 'lock_fail' => 'readonly']));
        $this->assertSame(0, $r['exit'], self::describe($r));
        $this->assertSame('', $r['stderr'], self::describe($r));
        $rep = $r['report'];
        $this->assertTrue($rep['ok'], self::describe($r));
        $this->assertSame('old', $rep['value']);
        $this->assertTrue($rep['closed'], self::describe($r));
        $this->assertGreaterThanOrEqual(0.45, $rep['waited']);
        $this->assertLessThan(1.2, $rep['waited']);
        $this->assertTrue(self::hasError($rep, '/^notice: .*read-only/'), 'no notice about the read-only start' . "\n" . self::describe($r));
        $this->assertTrue(self::hasError($rep, '/^notice: .*write skipped/'), 'no notice about the skipped write' . "\n" . self::describe($r));
        $this->assertSame([], preg_grep('/^notice: /', $rep['errors'], PREG_GREP_INVERT), self::describe($r));
        $this->assertSame(['v' => 'old'], self::stored($id), 'the read-only request wrote');

        self::fire($release);
        $this->finishHolder($holder);
        $this->assertSame(['v' => 'old'], self::stored($id));
    }

    // ----- 7. granularity ------------------------------------------------------------------------

    public function testLocksArePerSessionId(): void
    {
        $locked = self::newId();
        $other = self::newId();
        self::seed($locked, ['v' => 'a']);
        self::seed($other, ['v' => 'b']);
        $release = $this->signalFile('release');
        $holder = $this->holdLock($locked, $release, [], [], 3.0);

        $rep = $this->assertCleanRun($this->probe($other, 'v'), 'the request on another id');
        $this->assertTrue($rep['ok']);
        $this->assertSame('b', $rep['value']);
        $this->assertLessThan(0.2, $rep['waited'], sprintf('a request on another id waited %.3f s', $rep['waited']));
        // ... while the holder's id really is locked.
        $same = $this->probe($locked, 'v', ['lock_wait_timeout' => 0.2]);
        $this->assertFalse($same['report']['ok'] ?? null, self::describe($same));

        self::fire($release);
        $this->finishHolder($holder);
    }

    // ----- 8. regenerating the id moves the lock ---------------------------------------------------

    public function testRegenerateMovesTheLockToTheNewId(): void
    {
        $old = self::newId();
        self::seed($old, ['v' => 'old']);
        $release = $this->signalFile('release');
        $a = $this->spawn(<<<'PHP'
            if (!LockChild::start($id)) {
                LockChild::report(['ok' => false]);
                exit(1);
            }
            LockChild::set('v', 'A');
            LockChild::mark('new:' . LockChild::regenerate());
            LockChild::waitFor($release, 5);
            $closed = LockChild::close();
            LockChild::report(['ok' => true, 'closed' => $closed]);
            PHP, ['id' => $old, 'release' => $release]);
        $new = $this->waitOutput($a, '/\nnew:([A-Za-z0-9,-]+)\n/')[1];
        $this->assertNotSame($old, $new);

        // A request on the old id does not block: the old session is gone.
        $c = $this->probe($old, 'v');
        $this->assertSame(0, $c['exit'], self::describe($c));
        $this->assertLessThan(0.3, $c['report']['waited'], self::describe($c));
        $this->assertNull($c['report']['value'], 'the old session still has data');
        // The Session API never adopts an unknown id: it starts a fresh session instead.
        $this->assertSame([], preg_grep('/^started a new session/', $c['report']['errors'], PREG_GREP_INVERT), self::describe($c));

        // A request on the new id waits until A is done, then sees A's data.
        $b = $this->spawn(<<<'PHP'
            LockChild::mark('waiting');
            PHP . self::PROBE, ['id' => $new, 'key' => 'v', 'readOnly' => false]);
        $this->waitMark($b, 'waiting');
        usleep(400000);
        $this->assertFalse(self::exited($b), 'the request on the new id did not wait for the lock');
        $releasedAt = self::fire($release);
        $repA = $this->assertCleanRun($this->finish($a), 'A');
        $this->assertTrue($repA['closed']);
        $repB = $this->assertCleanRun($this->finish($b), 'the request on the new id');
        $this->assertTrue($repB['ok']);
        $this->assertSame('A', $repB['value']);
        $this->assertGreaterThanOrEqual($releasedAt, $repB['acquiredAt'], 'the new id was not locked');
    }

    // ----- 11. hand-over latency -----------------------------------------------------------------

    public function testWaiterGetsTheLockWithinMillisecondsOfItsRelease(): void
    {
        $deltas = [];
        for ($round = 0; $round < 3; $round++) {
            $id = self::newId();
            self::seed($id, ['v' => $round]);
            $release = $this->signalFile("release$round");
            $holder = $this->holdLock($id, $release);
            $waiter = $this->spawn(<<<'PHP'
                LockChild::mark('waiting');
                PHP . self::PROBE, ['id' => $id, 'key' => 'v', 'readOnly' => false]);
            $this->waitMark($waiter, 'waiting');
            usleep(150000); // the waiter is deep in its backoff by now
            self::fire($release);
            $repH = $this->finishHolder($holder);
            $repW = $this->assertCleanRun($this->finish($waiter), 'the waiter');
            $this->assertTrue($repW['ok']);
            // From the holder's close() returning to the waiter's start() returning.
            $deltas[] = $repW['acquiredAt'] - $repH['after'];
        }
        sort($deltas);
        self::note('lock hand-over: ' . implode(', ', array_map(static fn ($d) => sprintf('%.1f ms', $d * 1000), $deltas)));
        $this->assertLessThan(0.05, $deltas[1], 'median hand-over');
        $this->assertLessThan(0.2, $deltas[2], 'slowest hand-over');
    }
}

// ===== per API ====================================================================================

trait NativeApi
{
    protected static function api(): string
    {
        return LockChild::NATIVE;
    }

    protected function assertLockTimeoutReported(array $report): void
    {
        $this->assertFalse($report['ok'], 'session_start() must return false');
        $this->assertTrue(self::hasError($report, '/^warning: .*\block\b/i'), 'no warning about the lock: ' . var_export($report['errors'], true));
    }

    protected function assertWriteRefused(array $report): void
    {
        // session_write_close() returns true whatever the handler answered (PHP 8.2): the
        // warning is how the native handler reports a refused write.
        $this->assertTrue(self::hasError($report, '/^warning: .*\block\b/i'), 'no warning about the lost lock: ' . var_export($report['errors'], true));
    }
}

trait ClassApi
{
    protected static function api(): string
    {
        return LockChild::CLASS_API;
    }

    protected function assertLockTimeoutReported(array $report): void
    {
        $this->assertFalse($report['ok']);
        $this->assertTrue(self::hasError($report, '/^exception ' . preg_quote('Cannon\Session\LockTimeoutException', '/') . ': .*lock/i'), var_export($report['errors'], true));
    }

    protected function assertWriteRefused(array $report): void
    {
        $this->assertFalse($report['closed']);
        $this->assertTrue(self::hasError($report, '/^exception ' . preg_quote('Cannon\Session\SessionException', '/') . ': .*\block\b/i'), var_export($report['errors'], true));
    }
}

trait SessionApi
{
    protected static function api(): string
    {
        return LockChild::SESSION;
    }

    protected function assertLockTimeoutReported(array $report): void
    {
        $this->assertFalse($report['ok']);
        $this->assertTrue(self::hasError($report, '/^exception ' . preg_quote('Cannon\Session\LockTimeoutException', '/') . ': .*lock/i'), var_export($report['errors'], true));
        $this->assertSame(1, $report['stats']['lock_failures'], 'lockStats() lock_failures');
        $this->assertGreaterThanOrEqual(450.0, $report['stats']['lock_wait_ms'], 'lockStats() lock_wait_ms');
    }

    protected function assertWriteRefused(array $report): void
    {
        $this->assertFalse($report['closed']);
        $this->assertTrue(self::hasError($report, '/^exception ' . preg_quote('Cannon\Session\SessionException', '/') . ': .*\block\b/i'), var_export($report['errors'], true));
    }
}

/** session_reset() and session_abort() exist for the APIs built on ext/session. */
trait SessionFunctionLocking
{
    // ----- 9. ----------------------------------------------------------------------------------
    public function testResetAndAbortWorkWhileTheLockIsHeld(): void
    {
        $id = self::newId();
        self::seed($id, ['v' => 'old']);
        $step = $this->signalFile('step');
        $release = $this->signalFile('release');
        $a = $this->spawn(<<<'PHP'
            if (!LockChild::start($id)) {
                LockChild::report(['ok' => false]);
                exit(1);
            }
            $_SESSION['v'] = 'changed';
            $reset = session_reset();
            $afterReset = $_SESSION['v'] ?? null;
            $active = session_status() === PHP_SESSION_ACTIVE;
            LockChild::mark('reset');
            LockChild::waitFor($step, 5);
            $aborted = session_abort();
            LockChild::mark('aborted');
            LockChild::waitFor($release, 5);
            LockChild::report(compact('reset', 'afterReset', 'active', 'aborted'));
            PHP, ['id' => $id, 'step' => $step, 'release' => $release]);
        $this->waitMark($a, 'reset');

        // After session_reset() the lock is still held.
        $b = $this->probe($id, 'v', ['lock_wait_timeout' => 0.3]);
        $this->assertSame(0, $b['exit'], self::describe($b));
        $this->assertFalse($b['report']['ok'], 'the lock was not held after session_reset()');

        // session_abort() releases it at once, without writing.
        self::fire($step);
        $this->waitMark($a, 'aborted');
        $rep = $this->assertCleanRun($this->probe($id, 'v'), 'the request after session_abort()');
        $this->assertTrue($rep['ok']);
        $this->assertLessThan(0.2, $rep['waited'], sprintf('waited %.3f s after session_abort()', $rep['waited']));
        $this->assertSame('old', $rep['value'], 'session_abort() wrote');

        self::fire($release);
        $repA = $this->assertCleanRun($this->finish($a), 'A');
        $this->assertTrue($repA['reset']);
        $this->assertSame('old', $repA['afterReset'], 'session_reset() did not restore the stored data');
        $this->assertTrue($repA['active']);
        $this->assertTrue($repA['aborted']);
    }

    /**
     * With session.use_strict_mode the id is checked (and the lock taken) by validate_id: a lock
     * wait there must end like any other, not make PHP replace the id by a fresh empty session.
     */
    public function testStrictModeWaitsForTheLockAndFailsLikeTheRest(): void
    {
        $strict = ['session.use_strict_mode' => '1'];
        $id = self::newId();
        self::seed($id, ['v' => 'old']);
        $release = $this->signalFile('release');
        $holder = $this->holdLock($id, $release, ['v' => 'new']);

        $r = $this->probe($id, 'v', ['lock_wait_timeout' => 0.5], false, $strict);
        $this->assertSame(0, $r['exit'], self::describe($r));
        $this->assertLockTimeoutReported($r['report']);
        $this->assertNull($r['report']['value'], 'a waiter that timed out got a session: ' . self::describe($r));
        $this->assertContains($r['report']['id'], ['', $id], 'the locked id was replaced by a fresh one');

        $waiter = $this->spawn(self::PROBE, ['id' => $id, 'key' => 'v', 'readOnly' => false], [], null, $strict);
        usleep(200000);
        self::fire($release);
        $this->finishHolder($holder);
        $rep = $this->assertCleanRun($this->finish($waiter), 'the strict-mode waiter');
        $this->assertTrue($rep['ok']);
        $this->assertSame($id, $rep['id']);
        $this->assertSame('new', $rep['value']);
    }
}

// ===== per driver =================================================================================

trait RedisLocking
{
    private static string $prefix = '';
    private static ?\Redis $probe = null;

    protected static function dsn(array $options = [], ?string $base = null): string
    {
        return self::withQuery($base ?? Env::redisDsn(), ['prefix' => self::$prefix] + $options);
    }

    protected static function createStore(): void
    {
        self::$prefix = 'cannon_lock_' . bin2hex(random_bytes(4)) . ':';
    }

    protected static function dropStore(): void
    {
        $r = self::redisProbe();
        $it = null;
        do {
            $keys = $r->scan($it, self::$prefix . '*', 1000);
            if ($keys) {
                $r->del($keys);
            }
        } while ($it > 0);
        $r->close();
        self::$probe = null;
    }

    private static function redisProbe(?int $port = null): \Redis
    {
        if ($port !== null) {
            $r = new \Redis();
            $r->connect('127.0.0.1', $port, 2.0);
            return $r;
        }
        if (self::$probe === null) {
            $p = Env::redisParts();
            self::$probe = new \Redis();
            self::$probe->connect($p['host'], $p['port'], 2.0);
            self::$probe->select($p['db']);
        }
        return self::$probe;
    }

    protected static function lockTtlApplies(): bool
    {
        return true;
    }

    protected function assertRecoveredAfterKill(float $sinceLocked, float $sinceKilled): void
    {
        // lock_ttl=1: the dead holder's lock blocks for up to 1 s from when it was taken, no more.
        $this->assertGreaterThan(0.8, $sinceLocked, 'the lock of a killed holder vanished before lock_ttl');
        $this->assertLessThan(2.0, $sinceLocked, 'the lock of a killed holder outlived lock_ttl');
    }

    protected function assertNoLockLeft(string $id): void
    {
        $this->assertSame(0, (int) self::redisProbe()->exists(self::$prefix . $id . ':lock'), 'the lock key was left behind');
    }

    // ----- 10. ---------------------------------------------------------------------------------
    /**
     * On a private redis-server, K locked cycles that change the session and K that do not, on
     * a warm connection. MONITOR lists every command a client sends (and, marked "lua", those
     * the scripts run): a cycle that writes must be 2 round trips of plain commands, one that
     * changes nothing 1 (its release is sent without waiting).
     */
    public function testLockedCycleCostsTwoRoundTrips(): void
    {
        $k = 10;
        $server = FakeServer::startRedis();
        try {
            $base = "redis://127.0.0.1:{$server['port']}/0";
            $id = self::newId();
            self::seed($id, ['n' => 0], $base);
            $go = $this->signalFile('go');
            $release = $this->signalFile('release');
            $child = $this->spawn(<<<'PHP'
                // Warm up: the connection is open and every script is loaded on the server.
                LockChild::start($id);
                LockChild::set('n', -1);
                LockChild::close();
                LockChild::start($id);
                LockChild::close();
                LockChild::mark('warm');
                LockChild::waitFor($go, 10);
                $rt0 = LockChild::roundTrips();
                for ($i = 0; $i < $k; $i++) {
                    LockChild::start($id);
                    LockChild::set('n', $i);
                    LockChild::close();
                }
                $rt1 = LockChild::roundTrips();
                for ($i = 0; $i < $k; $i++) {
                    LockChild::start($id);
                    LockChild::close();
                }
                $rt2 = LockChild::roundTrips();
                LockChild::mark('done');
                LockChild::waitFor($release, 10);
                LockChild::report([
                    'changed' => $rt0 === null ? null : $rt1 - $rt0,
                    'unchanged' => $rt0 === null ? null : $rt2 - $rt1,
                ]);
                PHP, ['id' => $id, 'k' => $k, 'go' => $go, 'release' => $release], [], $base);
            $this->waitMark($child, 'warm');
            $before = self::commandCalls($server['port']);
            $monitor = self::monitor($server['port']);
            self::fire($go);
            $this->waitMark($child, 'done');
            $sent = self::clientCommands($monitor, $server['port']);
            $after = self::commandCalls($server['port']);
            self::fire($release);
            $rep = $this->assertCleanRun($this->finish($child), 'the round-trip child');

            self::note(sprintf('commands sent for %d locked cycles: %s', 2 * $k, json_encode($sent)));
            // While the lock is surely ours by the client's clock, a locked cycle is plain
            // commands: SET NX GET + GETEX (the read refreshes the expiry), then SET + DEL in a
            // second round trip; a cycle that changed nothing only sends DEL, without waiting
            // for its reply (read with the next command). No script runs (INFO commandstats),
            // and MONITOR tells what the client sent.
            $this->assertSame($before['evalsha'] ?? 0, $after['evalsha'] ?? 0, 'EVALSHA calls (INFO commandstats)');
            $this->assertSame($before['eval'] ?? 0, $after['eval'] ?? 0, 'EVAL calls (INFO commandstats)');
            $this->assertSame(['set' => 3 * $k, 'getex' => 2 * $k, 'del' => 2 * $k], $sent, 'commands of the locked cycles');
            $this->assertSame(2 * $k, $rep['changed'], 'round trips of cycles that write');
            $this->assertSame($k, $rep['unchanged'], 'round trips waited for by cycles that only refresh');
        } finally {
            FakeServer::stopRedis($server);
        }
    }

    /** @return array<string, int> calls per command (INFO commandstats) */
    private static function commandCalls(int $port): array
    {
        $r = self::redisProbe($port);
        $out = [];
        foreach ($r->info('commandstats') as $name => $stats) {
            if (str_starts_with((string) $name, 'cmdstat_') && preg_match('/(?:^|,)calls=(\d+)/', (string) $stats, $m) === 1) {
                $out[substr((string) $name, 8)] = (int) $m[1];
            }
        }
        $r->close();
        return $out;
    }

    /** @return resource a connection in MONITOR mode */
    private static function monitor(int $port)
    {
        $mon = stream_socket_client("tcp://127.0.0.1:$port", $errno, $errstr, 2.0);
        self::assertNotFalse($mon, "MONITOR connection: $errstr");
        stream_set_timeout($mon, 5);
        fwrite($mon, "MONITOR\r\n");
        self::assertSame("+OK\r\n", fgets($mon));
        return $mon;
    }

    /**
     * Reads the MONITOR stream up to a marker sent now from another connection, and counts the
     * commands clients sent (not those run by scripts), by name.
     * @param resource $mon
     * @return array<string, int>
     */
    private static function clientCommands($mon, int $port): array
    {
        $marker = 'cannon-lock-marker-' . bin2hex(random_bytes(4));
        $r = self::redisProbe($port);
        $r->echo($marker);
        $r->close();
        $counts = [];
        while (($line = fgets($mon)) !== false) {
            if (str_contains($line, $marker)) {
                fclose($mon);
                return $counts;
            }
            // +1732612345.123456 [0 127.0.0.1:40000] "evalsha" "..." ...   /   [0 lua] "GET" ...
            if (preg_match('/^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/', $line, $m) === 1 && $m[1] !== 'lua') {
                $cmd = strtolower($m[2]);
                $counts[$cmd] = ($counts[$cmd] ?? 0) + 1;
            }
        }
        fclose($mon);
        self::fail('the MONITOR stream ended before the marker');
    }
}

trait MysqlLocking
{
    private static string $table = '';

    protected static function dsn(array $options = [], ?string $base = null): string
    {
        return self::withQuery($base ?? Env::mysqlDsn(), ['table' => self::$table, 'auto_create' => 1] + $options);
    }

    protected static function createStore(): void
    {
        self::$table = 'cs_lock_' . bin2hex(random_bytes(4));
        DatabaseHandler::createTable(static::dsn());
    }

    protected static function dropStore(): void
    {
        $p = Env::mysqlParts();
        $db = new \mysqli($p['host'], $p['user'], $p['pass'], $p['db'], $p['port']);
        $db->query('DROP TABLE IF EXISTS `' . self::$table . '`');
        $db->close();
    }

    protected static function lockTtlApplies(): bool
    {
        // Lock connections run with wait_timeout = lock_ttl: a holder idle past it loses the lock.
        return true;
    }

    protected function assertRecoveredAfterKill(float $sinceLocked, float $sinceKilled): void
    {
        // GET_LOCK belongs to the connection: the server frees it as the dead process's socket closes.
        $this->assertLessThan(1.0, $sinceKilled, 'the lock of a killed holder outlived its connection');
    }

    protected function assertNoLockLeft(string $id): void
    {
        // The lock's name is internal to the store: the next request's wait is the check.
        $this->addToAssertionCount(1);
    }
}

// ===== the six combinations =======================================================================

final class NativeRedisLockingTest extends LockingTestCase
{
    use NativeApi, RedisLocking, SessionFunctionLocking;
}

final class NativeMysqlLockingTest extends LockingTestCase
{
    use NativeApi, MysqlLocking, SessionFunctionLocking;
}

final class RedisHandlerLockingTest extends LockingTestCase
{
    use ClassApi, RedisLocking, SessionFunctionLocking;
}

final class DatabaseHandlerLockingTest extends LockingTestCase
{
    use ClassApi, MysqlLocking, SessionFunctionLocking;
}

final class SessionRedisLockingTest extends LockingTestCase
{
    use SessionApi, RedisLocking;
}

final class SessionDatabaseLockingTest extends LockingTestCase
{
    use SessionApi, MysqlLocking;
}
