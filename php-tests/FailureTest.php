<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\ConnectionException;
use Cannon\Session\SessionException;
use Cannon\Session\Tests\Fixtures\RedisProbe;
use Cannon\Session\Tests\Fixtures\SessionChild;
use Cannon\Session\Tests\Support\FakeServer;
use Cannon\Session\Tests\Support\FreePort;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/SessionChild.php';
require_once __DIR__ . '/fixtures/RedisProbe.php';

/**
 * Redis unreachable, hanging, restarted; passwords in DSNs. For both the native handler
 * (a warning and session_start() === false) and RedisHandler (a SessionException subclass).
 */
final class FailureTest extends TestCase
{
    private const PASSWORD = 'S3cretPw';

    /** Child body: one session_start(), timed, with whatever it raised. */
    private const START = <<<'PHP'
        $t = microtime(true);
        $ok = null;
        $chain = [];
        try {
            $ok = session_start();
        } catch (Throwable $e) {
            for ($x = $e; $x !== null; $x = $x->getPrevious()) {
                $chain[] = [get_class($x), $x->getMessage()];
            }
        }
        $took = microtime(true) - $t;
        out(['ok' => $ok, 'chain' => $chain, 'took' => $took, 'status' => session_status()]);
        PHP;

    /** @var list<int> */
    private array $pids = [];
    /** @var list<array> */
    private array $servers = [];
    /** @var list<string> */
    private array $dirs = [];

    protected function tearDown(): void
    {
        foreach ($this->pids as $pid) {
            FakeServer::stop($pid);
        }
        foreach ($this->servers as $s) {
            FakeServer::stopRedis($s);
        }
        foreach ($this->dirs as $d) {
            PhpProcess::removeDir($d);
        }
    }

    public function modesAndIds(): array
    {
        return [
            'native, new session' => [SessionChild::NATIVE, false],
            'native, given id' => [SessionChild::NATIVE, true],
            'class, new session' => [SessionChild::CLASS_API, false],
            'class, given id' => [SessionChild::CLASS_API, true],
        ];
    }

    public function modes(): array
    {
        return ['native' => [SessionChild::NATIVE], 'class' => [SessionChild::CLASS_API]];
    }

    private static function withId(bool $withId): string
    {
        return $withId ? 'session_id("givenId' . bin2hex(random_bytes(10)) . '");' . "\n" : '';
    }

    /** Asserts the orderly failure of one session_start() in a child, for either handler. */
    private function assertOrderlyFailure(string $mode, array $r, string $exceptionClass = SessionException::class): array
    {
        $this->assertFalse($r['timedOut'], 'the child hung: ' . SessionChild::describe($r));
        $this->assertSame(0, $r['exit'], 'the child crashed: ' . SessionChild::describe($r));
        $out = $r['out'];
        $this->assertIsArray($out, SessionChild::describe($r));
        $this->assertNotSame(PHP_SESSION_ACTIVE, $out['status'], 'no session is active after a failed start');
        if ($mode === SessionChild::NATIVE) {
            $this->assertFalse($out['ok'], 'session_start() returns false: ' . SessionChild::describe($r));
            $this->assertSame([], $out['chain'], 'the native handler warns, it does not throw');
            $this->assertMatchesRegularExpression('/Warning: .*cannon_session: /', $r['stderr'], 'a warning of ours says what failed');
        } else {
            $this->assertNotSame([], $out['chain'], 'RedisHandler throws: ' . SessionChild::describe($r));
            [$top, $message] = $out['chain'][0];
            $this->assertTrue(
                is_a($top, $exceptionClass, true),
                "session_start() throws $exceptionClass, not $top ($message); chain: " . json_encode($out['chain'])
            );
            $this->assertStringStartsWith('cannon_session: ', $message);
        }
        return $out;
    }

    // ------------------------------------------------------------- unreachable

    /** @dataProvider modesAndIds */
    public function testUnreachableRedisFailsFast(string $mode, bool $withId): void
    {
        $dsn = 'redis://127.0.0.1:' . FreePort::get() . '/0?connect_timeout=0.5&timeout=0.5&prefix=t_unreach:';
        $r = SessionChild::run($mode, $dsn, self::withId($withId) . self::START, [], 10);
        $out = $this->assertOrderlyFailure($mode, $r, ConnectionException::class);
        $this->assertLessThan(1.5, $out['took'], 'gives up within connect_timeout + 1 s');
        $this->assertLessThan(5.0, $r['wall']);
    }

    public function testRedisHandlerMethodsThrowConnectionExceptionWhenUnreachable(): void
    {
        $h = new \Cannon\Session\RedisHandler('redis://127.0.0.1:' . FreePort::get() . '/0?connect_timeout=0.5');
        foreach ([
            'read' => fn () => $h->read('abcdefghijklmnopqrstuvwxyz'),
            'write' => fn () => $h->write('abcdefghijklmnopqrstuvwxyz', 'x|i:1;'),
            'destroy' => fn () => $h->destroy('abcdefghijklmnopqrstuvwxyz'),
            'validateId' => fn () => $h->validateId('abcdefghijklmnopqrstuvwxyz'),
            'updateTimestamp' => fn () => $h->updateTimestamp('abcdefghijklmnopqrstuvwxyz', ''),
        ] as $method => $call) {
            try {
                $call();
                $this->fail("$method() did not throw with Redis unreachable");
            } catch (ConnectionException $e) {
                $this->assertStringStartsWith('cannon_session: ', $e->getMessage(), $method);
            }
        }
    }

    // ---------------------------------------------------------------- hanging

    /** @dataProvider modesAndIds */
    public function testAHangingBackendTimesOut(string $mode, bool $withId): void
    {
        $hang = FakeServer::hangingTcp(60);
        $this->pids[] = $hang['pid'];
        $timeout = 0.5;
        $dsn = "redis://127.0.0.1:{$hang['port']}/0?connect_timeout=0.5&timeout=$timeout&prefix=t_hang:";
        $r = SessionChild::run($mode, $dsn, self::withId($withId) . self::START, [], 10);
        $out = $this->assertOrderlyFailure($mode, $r, ConnectionException::class);
        $this->assertGreaterThanOrEqual($timeout * 0.9, $out['took'], 'it did wait for the reply');
        // A new session first checks its fresh id for collisions: when that times out, the read
        // that follows must report it at once, not wait a second time.
        $this->assertLessThan($timeout + 0.4, $out['took'], 'gives up within timeout + margin');
    }

    // --------------------------------------------------------------- passwords

    /** @dataProvider modes */
    public function testAPasswordNeverAppearsInMessages(string $mode): void
    {
        $port = FreePort::get();
        $dsn = 'redis://:' . self::PASSWORD . "@127.0.0.1:$port/0?connect_timeout=0.3&prefix=t_pw:";
        $r = SessionChild::run($mode, $dsn, self::START, [], 10);
        $out = $this->assertOrderlyFailure($mode, $r);
        foreach ($out['chain'] as [$class, $message]) {
            $this->assertStringNotContainsString(self::PASSWORD, $message, "$class message");
        }
        $this->assertStringNotContainsString(self::PASSWORD, $r['stdout']);
        foreach (explode("\n", $r['stderr']) as $line) {
            if (!str_contains($line, self::PASSWORD)) {
                continue;
            }
            // PHP's own session warnings quote session.save_path verbatim ("... (path: <save_path>)"):
            // that is why password_file/password_env exist. Nothing of ours may.
            $this->assertSame(SessionChild::NATIVE, $mode, "leaked: $line");
            $this->assertStringNotContainsString('cannon_session', $line, "leaked: $line");
            $this->assertMatchesRegularExpression('/\(path: [^)]*' . self::PASSWORD . '/', $line, "leaked: $line");
        }
    }

    public function testAPasswordNeverAppearsInPhpinfo(): void
    {
        $dsn = 'redis://:' . self::PASSWORD . '@127.0.0.1:' . FreePort::get() . '/0?connect_timeout=0.3';
        $r = SessionChild::run(
            SessionChild::CLASS_API,
            $dsn,
            'try { session_start(); } catch (Throwable $e) {}' . "\n"
                . '$s = new \Cannon\Session\RedisHandler(); try { $s->read("abcdefghijklmnopqrstuvwxyz"); } catch (Throwable $e) {}' . "\n"
                . 'ob_start(); phpinfo(); $i = ob_get_clean(); out($i);',
            ['cannon_session.default_dsn' => SessionChild::iniQuote($dsn)],
            10
        );
        $this->assertSame(0, $r['exit'], SessionChild::describe($r));
        $this->assertIsString($r['out']);
        $this->assertStringContainsString('cannon_session', $r['out'], 'our phpinfo section is there');
        $this->assertStringNotContainsString(self::PASSWORD, $r['out'], 'phpinfo() shows no password');
        $this->assertStringNotContainsString(self::PASSWORD, $r['stderr']);
    }

    // ---------------------------------------------------------------- recovery

    /**
     * One long-lived PHP process (as a php-fpm worker) runs session cycles while its Redis is up,
     * killed, and started again on the same port: it fails fast while Redis is down and works
     * again afterwards without a restart.
     * @dataProvider modes
     */
    public function testALongLivedProcessRecoversWhenRedisComesBack(string $mode): void
    {
        $redis = FakeServer::startRedis();
        $this->servers[] = $redis;
        $port = $redis['port'];
        $ctl = $this->dirs[] = PhpProcess::tempDir('cannon-ctl-');
        $id = 'recover' . bin2hex(random_bytes(10));
        $dsn = "redis://127.0.0.1:$port/0?connect_timeout=0.5&timeout=0.5&prefix=t_rec:";

        $child = SessionChild::start($mode, $dsn, '$ctl = ' . var_export($ctl, true) . ";\n"
            . '$id = ' . var_export($id, true) . ";\n" . <<<'PHP'
                for ($phase = 1; $phase <= 3; $phase++) {
                    $deadline = microtime(true) + 20;
                    while (!is_file("$ctl/go$phase") && microtime(true) < $deadline) { usleep(5000); }
                    $results = [];
                    for ($i = 0; $i < 3; $i++) {
                        session_id($id);
                        $t = microtime(true);
                        try {
                            $ok = @session_start();
                            if ($ok) {
                                $_SESSION['n'] = ($_SESSION['n'] ?? 0) + 1;
                                $ok = session_write_close() ? $_SESSION['n'] : 'write failed';
                            }
                        } catch (Throwable $e) {
                            $ok = get_class($e);
                            if (session_status() === PHP_SESSION_ACTIVE) { session_abort(); }
                        }
                        $results[] = ['ok' => $ok, 'took' => microtime(true) - $t];
                    }
                    file_put_contents("$ctl/result$phase.tmp", serialize($results));
                    rename("$ctl/result$phase.tmp", "$ctl/result$phase");
                }
                out(getmypid());
                PHP);

        $phase = function (int $n) use ($ctl): array {
            touch("$ctl/go$n");
            $deadline = microtime(true) + 15;
            while (!is_file("$ctl/result$n") && microtime(true) < $deadline) {
                usleep(5000);
            }
            $this->assertFileExists("$ctl/result$n", "phase $n did not finish");
            return unserialize((string) file_get_contents("$ctl/result$n"));
        };

        try {
            $up = $phase(1);
            $this->assertSame([1, 2, 3], array_column($up, 'ok'), 'cycles work while Redis is up');

            FakeServer::stopRedis($redis);
            $down = $phase(2);
            foreach ($down as $i => $res) {
                $this->assertIsNotInt($res['ok'], "cycle $i must fail while Redis is down");
                if ($mode === SessionChild::CLASS_API) {
                    $this->assertSame(ConnectionException::class, $res['ok']);
                } else {
                    $this->assertFalse($res['ok']);
                }
                $this->assertLessThan(0.6, $res['took'], 'failing fast (connection refused)');
            }

            $this->servers[] = FakeServer::startRedis([], $port);
            $back = $phase(3);
            // The restarted server kept nothing (no persistence): the session starts over.
            $this->assertSame([1, 2, 3], array_column($back, 'ok'), 'cycles work again, no PHP restart');
        } finally {
            for ($n = 1; $n <= 3; $n++) {
                touch("$ctl/go$n");
            }
            $r = SessionChild::wait($child, 20);
        }
        $this->assertSame(0, $r['exit'], SessionChild::describe($r));
        $this->assertIsInt($r['out'], 'the same process ran all three phases');
    }
}
