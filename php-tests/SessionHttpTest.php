<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\SessionFixtures\RedisFixture;
use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\FreePort;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/fixtures/session/RedisFixture.php';

/**
 * The Session object behind a web server: `php -S` with the extension serves
 * fixtures/session/www/app/index.php, and the test plays the browser (one cookie jar).
 */
final class SessionHttpTest extends TestCase
{
    use RedisFixture;

    private const NAME = 'cannon_test_sid';

    /** @var resource|null */
    private $server = null;
    private int $port = 0;
    private string $dir = '';
    /** @var array<string, string> the browser's cookies, as received (still URL-encoded) */
    private array $jar = [];

    protected function setUp(): void
    {
        $this->setUpRedisFixture();
        $this->dir = PhpProcess::tempDir('cannon-http-');
        $this->startServer();
    }

    protected function tearDown(): void
    {
        $errors = '';
        if ($this->server !== null) {
            PhpProcess::kill($this->server, 2.0);
            proc_close($this->server);
            $this->server = null;
            $errors = (string) @file_get_contents("$this->dir/php-errors.log");
        }
        PhpProcess::removeDir($this->dir);
        $this->tearDownRedisFixture();
        if ($errors !== '' && !$this->hasFailed()) {
            self::fail("the page raised PHP errors:\n$errors");
        }
    }

    private function startServer(): void
    {
        $docroot = __DIR__ . '/fixtures/session/www';
        for ($attempt = 0; $attempt < 3; $attempt++) {
            $this->port = FreePort::get();
            $cmd = [PHP_BINARY, '-n', '-d', 'extension=' . Env::extPath(), '-d', 'display_errors=0', '-d', 'log_errors=1',
                '-d', "error_log=$this->dir/php-errors.log", '-d', 'error_reporting=-1',
                '-S', "127.0.0.1:$this->port", '-t', $docroot];
            $env = getenv();
            $env['CANNON_TEST_PREFIX'] = $this->prefix;
            $env['CANNON_REDIS_DSN'] = Env::redisDsn();
            unset($env['PHP_CLI_SERVER_WORKERS']);
            $proc = proc_open($cmd, [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$this->dir/server.out", 'w'],
                2 => ['file', "$this->dir/server.err", 'w']], $pipes, $docroot, $env);
            self::assertIsResource($proc, 'proc_open of php -S');
            $deadline = microtime(true) + 5.0;
            while (microtime(true) < $deadline && proc_get_status($proc)['running']) {
                $sock = @stream_socket_client("tcp://127.0.0.1:$this->port", $errno, $errstr, 0.2);
                if ($sock !== false) {
                    fclose($sock);
                    $this->server = $proc;
                    return;
                }
                usleep(20000);
            }
            PhpProcess::kill($proc, 1.0);
            proc_close($proc);
        }
        self::fail('php -S did not start: ' . @file_get_contents("$this->dir/server.err"));
    }

    /**
     * GET /app/index.php?$query with the jar's cookies (or $cookieHeader); keeps what comes back.
     * @return array{status:int, body:array{before:?string, id:?string, n:?int}, cookies:list<array<string,string>>}
     */
    private function get(array $query = [], ?string $cookieHeader = null): array
    {
        if ($cookieHeader === null) {
            $pairs = [];
            foreach ($this->jar as $name => $value) {
                $pairs[] = "$name=$value";
            }
            $cookieHeader = implode('; ', $pairs);
        }
        $headers = "Connection: close\r\n" . ($cookieHeader === '' ? '' : "Cookie: $cookieHeader\r\n");
        $ctx = stream_context_create(['http' => ['method' => 'GET', 'header' => $headers, 'timeout' => 10,
            'ignore_errors' => true, 'follow_location' => 0]]);
        $url = "http://127.0.0.1:$this->port/app/index.php" . ($query === [] ? '' : '?' . http_build_query($query));
        $body = @file_get_contents($url, false, $ctx);
        self::assertNotFalse($body, "GET $url failed: " . @file_get_contents("$this->dir/server.err"));
        /** @var list<string> $http_response_header */
        $status = (int) (explode(' ', $http_response_header[0])[1] ?? 0);
        $cookies = [];
        foreach ($http_response_header as $line) {
            if (stripos($line, 'Set-Cookie:') === 0) {
                $cookie = self::parseSetCookie(trim(substr($line, strlen('Set-Cookie:'))));
                $cookies[] = $cookie;
                if (($cookie['expires'] ?? '') !== '' && strtotime($cookie['expires']) < time()) {
                    unset($this->jar[$cookie['name']]);
                } else {
                    $this->jar[$cookie['name']] = $cookie['value'];
                }
            }
        }
        self::assertSame(200, $status, $body);
        $decoded = json_decode($body, true);
        self::assertIsArray($decoded, "not JSON: $body");
        return ['status' => $status, 'body' => $decoded, 'cookies' => $cookies];
    }

    /** @return array<string, string> name, value, and each attribute (lower-case name => value or '') */
    private static function parseSetCookie(string $header): array
    {
        $parts = array_map('trim', explode(';', $header));
        [$name, $value] = explode('=', array_shift($parts), 2) + [1 => ''];
        $cookie = ['name' => $name, 'value' => $value];
        foreach ($parts as $part) {
            [$k, $v] = explode('=', $part, 2) + [1 => ''];
            $cookie[strtolower($k)] = $v;
        }
        return $cookie;
    }

    /** The one session cookie a response set. */
    private static function sessionCookie(array $response): array
    {
        $mine = array_values(array_filter($response['cookies'], fn ($c) => $c['name'] === self::NAME));
        self::assertCount(1, $mine, 'exactly one session cookie: ' . json_encode($response['cookies']));
        return $mine[0];
    }

    // ---- tests -------------------------------------------------------------------------------------

    public function testTwoRequestsShareTheSessionThroughTheCookie(): void
    {
        $first = $this->get();
        self::assertSame(1, $first['body']['n']);
        $cookie = self::sessionCookie($first);
        $id = $first['body']['id'];
        self::assertSame($id, rawurldecode($cookie['value']));
        self::assertSame('/app', $cookie['path']);
        self::assertArrayHasKey('httponly', $cookie);
        self::assertSame('Strict', $cookie['samesite']);
        self::assertArrayNotHasKey('secure', $cookie, 'plain HTTP: not Secure');
        self::assertArrayNotHasKey('expires', $cookie, 'a browser-session cookie by default');
        self::assertArrayNotHasKey('domain', $cookie);

        $second = $this->get();
        self::assertSame(2, $second['body']['n']);
        self::assertSame($id, $second['body']['id']);
        self::assertSame([], $second['cookies'], 'an unchanged id sends no cookie again');

        self::assertSame(3, $this->get()['body']['n']);
        self::assertSame(serialize(['n' => 3]), $this->redis()->get($this->key($id)));
    }

    public function testAnIdWithCommaAndDashSurvivesTheCookieEncoding(): void
    {
        $id = 'Known,Id-0123456789abcdefXY';
        $this->redis()->set($this->key($id), serialize(['n' => 41]), ['EX' => 600]);
        $r = $this->get([], self::NAME . '=' . rawurlencode($id));
        self::assertSame($id, $r['body']['id']);
        self::assertSame(42, $r['body']['n']);
    }

    public function testCookieAttributesFromTheConfig(): void
    {
        $c = self::sessionCookie($this->get(['domain' => 'example.test', 'samesite' => 'Lax', 'secure' => '1',
            'lifetime' => '3600', 'httponly' => '0']));
        self::assertSame('example.test', ltrim($c['domain'], '.'));
        self::assertSame('Lax', $c['samesite']);
        self::assertArrayHasKey('secure', $c);
        self::assertArrayNotHasKey('httponly', $c);
        self::assertSame('3600', $c['max-age']);
        $expires = strtotime($c['expires']);
        self::assertGreaterThan(time() + 3500, $expires);
        self::assertLessThanOrEqual(time() + 3601, $expires);
    }

    /** @return array<string, array{string}> */
    public static function cookieNames(): array
    {
        // PHP turns '.' (and ' ', '[') in incoming cookie names into '_' in $_COOKIE.
        return ['plain' => ['my_app'], 'dash' => ['my-app'], 'dot' => ['my.app'], 'digits' => ['app2']];
    }

    /** @dataProvider cookieNames */
    public function testEveryAcceptedSessionNameWorks(string $name): void
    {
        $first = $this->get(['name' => $name]);
        $c = $first['cookies'][0] ?? [];
        self::assertSame($name, $c['name'] ?? null);
        $second = $this->get(['name' => $name]);
        self::assertSame($first['body']['id'], $second['body']['id'], "the session named $name is resumed from its cookie");
        self::assertSame(2, $second['body']['n']);
    }

    public function testSessionCookieFalseSendsNoCookie(): void
    {
        $r = $this->get(['cookie' => '0']);
        self::assertSame([], $r['cookies']);
        self::assertSame(1, $r['body']['n']);
        self::assertSame(serialize(['n' => 1]), $this->redis()->get($this->key($r['body']['id'])), 'the session still works');
    }

    public function testAnUnknownOrMalformedCookieGetsAFreshId(): void
    {
        foreach (['UnknownButWellFormed0123456789', 'bad%20id', str_repeat('x', 300), ''] as $offered) {
            $r = $this->get([], self::NAME . '=' . $offered);
            $id = $r['body']['id'];
            self::assertNotSame(rawurldecode($offered), $id);
            self::assertMatchesRegularExpression('/^[A-Za-z0-9,-]{22,256}$/', $id);
            self::assertSame($id, rawurldecode(self::sessionCookie($r)['value']), 'the fresh id is sent');
            self::assertSame(0, $this->redis()->exists($this->key(rawurldecode($offered))));
        }
    }

    public function testDestroyExpiresTheCookie(): void
    {
        $id = $this->get()['body']['id'];
        $r = $this->get(['action' => 'destroy']);
        self::assertNull($r['body']['id']);
        $c = self::sessionCookie($r);
        self::assertContains($c['value'], ['', 'deleted']);
        self::assertLessThan(time(), strtotime($c['expires']), 'expired');
        self::assertSame('/app', $c['path'], 'the same path, or the browser keeps the old cookie');
        self::assertSame(0, $this->redis()->exists($this->key($id)));

        self::assertArrayNotHasKey(self::NAME, $this->jar);
        $next = $this->get();
        self::assertSame(1, $next['body']['n'], 'a new session afterwards');
        self::assertNotSame($id, $next['body']['id']);
    }

    public function testRegenerateSendsTheNewId(): void
    {
        $first = $this->get();
        $old = $first['body']['id'];
        $r = $this->get(['action' => 'regenerate']);
        $new = $r['body']['id'];
        self::assertSame($old, $r['body']['before']);
        self::assertNotSame($old, $new);
        $c = self::sessionCookie($r);
        self::assertSame($new, rawurldecode($c['value']));
        self::assertSame('/app', $c['path']);
        self::assertArrayHasKey('httponly', $c);
        self::assertSame(0, $this->redis()->exists($this->key($old)), 'regenerate() deletes the old session');

        $after = $this->get();
        self::assertSame($new, $after['body']['id']);
        self::assertSame(2, $after['body']['n'], 'the data moved to the new id');
    }

    public function testRegenerateKeepingTheOldSession(): void
    {
        $old = $this->get()['body']['id'];
        $r = $this->get(['action' => 'keep']);
        self::assertNotSame($old, $r['body']['id']);
        self::assertSame($r['body']['id'], rawurldecode(self::sessionCookie($r)['value']));
        self::assertSame(serialize(['n' => 1]), $this->redis()->get($this->key($old)));
    }
}
