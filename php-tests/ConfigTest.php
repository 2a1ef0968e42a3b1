<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\ConfigException;
use Cannon\Session\RedisHandler;
use Cannon\Session\SessionException;
use Cannon\Session\Tests\Fixtures\RedisProbe;
use Cannon\Session\Tests\Fixtures\SessionChild;
use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\FakeServer;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/SessionChild.php';
require_once __DIR__ . '/fixtures/RedisProbe.php';

/**
 * DSNs and options: bad ones are refused naming the field and never echoing the password; the
 * password_env / password_file options authenticate against a redis-server with requirepass.
 */
final class ConfigTest extends TestCase
{
    private const SECRET = 'hunter2XYZ';
    private const REDIS_PW = 'pw123';

    /** @var list<array> */
    private static array $servers = [];
    /** @var list<string> */
    private array $dirs = [];

    public static function tearDownAfterClass(): void
    {
        foreach (self::$servers as $s) {
            FakeServer::stopRedis($s);
        }
        self::$servers = [];
    }

    protected function tearDown(): void
    {
        foreach ($this->dirs as $d) {
            PhpProcess::removeDir($d);
        }
    }

    /** A redis-server with requirepass, shared by this class's tests. */
    private static function authRedis(): array
    {
        return self::$servers['auth'] ??= FakeServer::startRedis(['--requirepass', self::REDIS_PW]);
    }

    // ------------------------------------------------------------- bad DSNs

    public function badDsns(): array
    {
        $s = self::SECRET;
        return [
            'unknown scheme' => ["memcached://:$s@127.0.0.1:11211", 'scheme'],
            'no scheme' => [":$s@127.0.0.1:6379", 'scheme'],
            'port 0' => ["redis://:$s@127.0.0.1:0", 'port'],
            'port 70000' => ["redis://:$s@127.0.0.1:70000", 'port'],
            'port not a number' => ["redis://:$s@127.0.0.1:http", 'port'],
            'db -1' => ["redis://:$s@127.0.0.1:6379/-1", 'db'],
            'db not a number' => ["redis://:$s@127.0.0.1:6379/zero", 'db'],
            'unknown option' => ["redis://:$s@127.0.0.1:6379/0?colour=blue", 'colour'],
            'timeout=abc' => ["redis://:$s@127.0.0.1:6379/0?timeout=abc", 'timeout'],
            'timeout=0' => ["redis://:$s@127.0.0.1:6379/0?timeout=0", 'timeout'],
            'connect_timeout=-1' => ["redis://:$s@127.0.0.1:6379/0?connect_timeout=-1", 'connect_timeout'],
            'prefix too long' => ["redis://:$s@127.0.0.1:6379/0?prefix=" . str_repeat('p', 300), 'prefix'],
            'lock=maybe' => ["redis://:$s@127.0.0.1:6379/0?lock=maybe", 'lock'],
            'lock_fail=x' => ["redis://:$s@127.0.0.1:6379/0?lock_fail=x", 'lock_fail'],
            'max_size=1' => ["redis://:$s@127.0.0.1:6379/0?max_size=1", 'max_size'],
            'relative unix socket' => ["redis+unix://:$s@relative.sock", 'socket'],
            'missing password_env' => ['redis://127.0.0.1:6379/0?password_env=CANNON_NO_SUCH_VAR_XYZ', 'password_env'],
            'missing password_file' => ['redis://127.0.0.1:6379/0?password_file=/nonexistent/cannon-pw', 'password_file'],
        ];
    }

    /** @dataProvider badDsns */
    public function testABadDsnThrowsConfigExceptionNamingTheField(string $dsn, string $field): void
    {
        try {
            new RedisHandler($dsn);
            $this->fail("accepted a bad DSN ($field)");
        } catch (ConfigException $e) {
            $this->assertInstanceOf(SessionException::class, $e);
            $this->assertStringContainsString($field, $e->getMessage(), 'the message names the field');
            $this->assertStringNotContainsString(self::SECRET, $e->getMessage(), 'never the password');
        }
    }

    public function badOptionArrays(): array
    {
        $pw = ['host' => '127.0.0.1', 'password' => self::SECRET];
        return [
            'port 0' => [$pw + ['port' => 0], 'port'],
            'port 70000' => [$pw + ['port' => 70000], 'port'],
            'database -1' => [$pw + ['database' => -1], 'db'],
            'unknown option' => [$pw + ['colour' => 'blue'], 'colour'],
            'timeout=abc' => [$pw + ['timeout' => 'abc'], 'timeout'],
            'prefix too long' => [$pw + ['prefix' => str_repeat('p', 300)], 'prefix'],
            'dsn + unknown option' => [['dsn' => 'redis://:' . self::SECRET . '@127.0.0.1', 'colour' => 'blue'], 'colour'],
            'dsn with a bad port' => [['dsn' => 'redis://:' . self::SECRET . '@127.0.0.1:0'], 'port'],
            'not a redis dsn' => [['dsn' => 'mysql://u:' . self::SECRET . '@127.0.0.1/db'], 'redis'],
            'nested array' => [['host' => ['127.0.0.1']], 'host'],
        ];
    }

    /** @dataProvider badOptionArrays */
    public function testBadOptionArraysThrowConfigExceptionNamingTheField(array $options, string $field): void
    {
        try {
            new RedisHandler($options);
            $this->fail("accepted bad options ($field)");
        } catch (ConfigException $e) {
            $this->assertStringContainsString($field, $e->getMessage());
            $this->assertStringNotContainsString(self::SECRET, $e->getMessage());
        }
    }

    public function badSavePaths(): array
    {
        $cases = $this->badDsns();
        return array_intersect_key($cases, array_flip(['unknown scheme', 'port 0', 'port 70000', 'db -1', 'unknown option', 'timeout=abc', 'prefix too long', 'missing password_file']));
    }

    /** @dataProvider badSavePaths */
    public function testTheNativeHandlerWarnsAndFailsOnABadSavePath(string $dsn, string $field): void
    {
        $r = SessionChild::run(SessionChild::NATIVE, $dsn, '$ok = session_start(); out(["ok" => $ok, "status" => session_status()]);');
        $this->assertSame(0, $r['exit'], SessionChild::describe($r));
        $this->assertSame(['ok' => false, 'status' => PHP_SESSION_NONE], $r['out'], SessionChild::describe($r));
        $ours = array_values(array_filter(explode("\n", $r['stderr']), static fn ($l) => str_contains($l, 'cannon_session: ')));
        $this->assertNotEmpty($ours, 'a warning of ours: ' . SessionChild::describe($r));
        $this->assertStringContainsString('Warning', $ours[0]);
        $this->assertStringContainsString($field, $ours[0], 'the warning names the field');
        foreach ($ours as $line) {
            $this->assertStringNotContainsString(self::SECRET, $line);
        }
    }

    // ------------------------------------------------------- passwords from elsewhere

    public function modes(): array
    {
        return ['native' => [SessionChild::NATIVE], 'class' => [SessionChild::CLASS_API]];
    }

    /** A child that writes a session and reads it back through a second start in the same run. */
    private const CYCLE = <<<'PHP'
        $ok = null; $chain = [];
        try {
            $ok = session_start();
            if ($ok) {
                $_SESSION['auth'] = 'ok';
                $id = session_id();
                session_write_close();
                session_id($id);
                session_start();
                $read = $_SESSION['auth'] ?? null;
                session_write_close();
            }
        } catch (Throwable $e) {
            for ($x = $e; $x; $x = $x->getPrevious()) { $chain[] = [get_class($x), $x->getMessage()]; }
        }
        out(['ok' => $ok, 'id' => $id ?? null, 'read' => $read ?? null, 'chain' => $chain]);
        PHP;

    private function passwordFile(string $content): string
    {
        $dir = $this->dirs[] = PhpProcess::tempDir('cannon-pw-');
        file_put_contents("$dir/redis.pw", $content);
        chmod("$dir/redis.pw", 0600);
        return "$dir/redis.pw";
    }

    private function assertAuthenticatedRoundTrip(array $r, string $prefix): void
    {
        $this->assertSame(0, $r['exit'], SessionChild::describe($r));
        $this->assertSame('', $r['stderr'], SessionChild::describe($r));
        $out = $r['out'];
        $this->assertTrue($out['ok'], SessionChild::describe($r));
        $this->assertSame('ok', $out['read']);
        $probe = new RedisProbe(self::authRedis()['port'], self::REDIS_PW);
        $this->assertSame('auth|s:2:"ok";', $probe->get($prefix . $out['id']), 'stored on the password-protected server');
        $this->assertStringNotContainsString(self::REDIS_PW, $r['stdout'] . $r['stderr']);
    }

    /** @dataProvider modes */
    public function testPasswordEnvAuthenticates(string $mode): void
    {
        $port = self::authRedis()['port'];
        $prefix = 't_' . bin2hex(random_bytes(4)) . ':';
        $dsn = "redis://127.0.0.1:$port/0?password_env=CANNON_TEST_REDIS_PW&prefix=$prefix&timeout=2";
        $r = SessionChild::run($mode, $dsn, self::CYCLE, [], 10, ['CANNON_TEST_REDIS_PW' => self::REDIS_PW]);
        $this->assertAuthenticatedRoundTrip($r, $prefix);
    }

    /** @dataProvider modes */
    public function testPasswordFileAuthenticates(string $mode): void
    {
        $port = self::authRedis()['port'];
        $prefix = 't_' . bin2hex(random_bytes(4)) . ':';
        $file = $this->passwordFile(self::REDIS_PW . "\n");
        $dsn = "redis://127.0.0.1:$port/0?password_file=$file&prefix=$prefix&timeout=2";
        $r = SessionChild::run($mode, $dsn, self::CYCLE, [], 10);
        $this->assertAuthenticatedRoundTrip($r, $prefix);
    }

    public function wrongPasswords(): array
    {
        return [
            'native, wrong password in file' => [SessionChild::NATIVE, 'file'],
            'class, wrong password in file' => [SessionChild::CLASS_API, 'file'],
            'native, wrong password in env' => [SessionChild::NATIVE, 'env'],
            'class, wrong password in env' => [SessionChild::CLASS_API, 'env'],
            'native, no password' => [SessionChild::NATIVE, 'none'],
            'class, no password' => [SessionChild::CLASS_API, 'none'],
        ];
    }

    /** @dataProvider wrongPasswords */
    public function testAWrongPasswordFailsCleanlyWithoutEchoingIt(string $mode, string $how): void
    {
        $wrong = 'wrongPw' . bin2hex(random_bytes(4));
        $port = self::authRedis()['port'];
        $dsn = "redis://127.0.0.1:$port/0?timeout=2&prefix=t_wrong:";
        $env = null;
        if ($how === 'file') {
            $dsn .= '&password_file=' . $this->passwordFile("$wrong\n");
        } elseif ($how === 'env') {
            $dsn .= '&password_env=CANNON_TEST_REDIS_PW';
            $env = ['CANNON_TEST_REDIS_PW' => $wrong];
        }
        $r = SessionChild::run($mode, $dsn, self::CYCLE, [], 10, $env);
        $this->assertFalse($r['timedOut'], SessionChild::describe($r));
        $this->assertSame(0, $r['exit'], SessionChild::describe($r));
        $out = $r['out'];
        $this->assertNotTrue($out['ok'], 'no session with a wrong password');
        if ($mode === SessionChild::NATIVE) {
            $this->assertFalse($out['ok']);
            $this->assertStringContainsString('cannon_session: ', $r['stderr']);
        } else {
            $this->assertNotSame([], $out['chain']);
            $this->assertTrue(is_a($out['chain'][0][0], SessionException::class, true), json_encode($out['chain']));
        }
        $all = $r['stdout'] . $r['stderr'] . json_encode($out['chain']);
        $this->assertStringNotContainsString($wrong, $all, 'the wrong password is never echoed');
        $this->assertStringNotContainsString(self::REDIS_PW, $all);
        $this->assertMatchesRegularExpression('/auth|password|NOAUTH|WRONGPASS/i', $r['stderr'] . json_encode($out['chain']), 'the failure says it is about authentication');
    }

    // ------------------------------------------------------------- other forms

    public function testAUnixSocketDsnWorks(): void
    {
        $dir = $this->dirs[] = PhpProcess::tempDir('cannon-sock-');
        $sock = "$dir/redis.sock";
        $srv = FakeServer::startRedis(['--unixsocket', $sock, '--unixsocketperm', '700']);
        self::$servers[] = $srv;
        $this->assertTrue(file_exists($sock));
        foreach ([SessionChild::NATIVE, SessionChild::CLASS_API] as $mode) {
            $r = SessionChild::run($mode, "redis+unix://$sock?db=3&prefix=t_unix:", self::CYCLE, [], 10);
            $this->assertSame(0, $r['exit'], SessionChild::describe($r));
            $this->assertSame('', $r['stderr'], SessionChild::describe($r));
            $this->assertSame('ok', $r['out']['read'], "$mode: " . SessionChild::describe($r));
            $probe = new RedisProbe($srv['port']);
            $probe->redis()->select(3);
            $this->assertTrue($probe->exists('t_unix:' . $r['out']['id']), "$mode: stored in db 3 through the socket");
        }
    }

    public function testTheHandlerClassWithoutArgumentsUsesTheDefaultDsnIni(): void
    {
        $prefix = 't_' . bin2hex(random_bytes(4)) . ':';
        $dsn = SessionChild::dsn(['prefix' => $prefix]);
        $r = PhpProcess::run(
            '$h = new \Cannon\Session\RedisHandler(); $h->write("defaultdsn0123456789abcdef", "d|i:1;"); echo "done";',
            ['cannon_session.default_dsn' => SessionChild::iniQuote($dsn), 'cannon_session.locking' => '0']
        );
        $probe = new RedisProbe();
        try {
            $this->assertSame('done', $r['stdout'], $r['stderr']);
            $this->assertSame('d|i:1;', $probe->get($prefix . 'defaultdsn0123456789abcdef'));
        } finally {
            $probe->deleteAll($prefix);
        }
    }

    public function testTheEnvironmentRedisIsWhatTheTestsUse(): void
    {
        // Guards the rest of the suite: Env::redisDsn() must parse as a handler DSN.
        $h = new RedisHandler(Env::redisDsn());
        $this->assertInstanceOf(RedisHandler::class, $h);
    }
}
