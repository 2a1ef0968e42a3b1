<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\Fixtures\SessionChild;
use Cannon\Session\Tests\Fixtures\SessionHandlerContract;

require_once __DIR__ . '/fixtures/SessionHandlerContract.php';

/**
 * session.save_handler = cannon, session.save_path = "redis://...": PHP's session semantics,
 * across processes, against the real Redis (the shared tests are in SessionHandlerContract).
 */
final class NativeHandlerTest extends SessionHandlerContract
{
    protected function mode(): string
    {
        return SessionChild::NATIVE;
    }

    public function testCannonIsARegisteredSaveHandler(): void
    {
        $r = SessionChild::run(SessionChild::NATIVE, $this->dsn(), 'out(ini_get("session.save_handler"));');
        $this->assertSame('cannon', $r['out'], SessionChild::describe($r));
        $this->assertSame('', $r['stderr']);

        $info = SessionChild::run(SessionChild::NATIVE, $this->dsn(), 'ob_start(); phpinfo(INFO_MODULES); $i = ob_get_clean(); preg_match("/Registered save handlers => (.*)/", $i, $m); out($m[1] ?? "");');
        $this->assertContains('cannon', explode(' ', trim((string) $info['out'])), 'phpinfo lists cannon among the save handlers');
    }

    public function testAnEmptySavePathUsesTheDefaultDsnIni(): void
    {
        $out = $this->childOk(
            'session_start(); $_SESSION["x"] = 1; $id = session_id(); session_write_close(); out($id);',
            ['session.save_path' => '', 'cannon_session.default_dsn' => SessionChild::iniQuote($this->dsn())]
        );
        $this->assertTrue($this->probe->exists($this->key($out)), 'stored through cannon_session.default_dsn');
    }

    public function testTheDefaultKeyPrefixIsPhpsessid(): void
    {
        $id = 'prefixless' . bin2hex(random_bytes(10));
        $key = 'PHPSESSID:' . $id;
        try {
            $r = SessionChild::run(
                SessionChild::NATIVE,
                SessionChild::dsn(['timeout' => 3]),
                'session_id(' . var_export($id, true) . '); session_start(); $_SESSION["x"] = 1; session_write_close(); out(true);'
            );
            $this->assertSame(true, $r['out'], SessionChild::describe($r));
            $this->assertSame('x|i:1;', $this->probe->get($key));
            $this->assertContains($this->probe->ttl($key), range(1430, 1440));
        } finally {
            $this->probe->redis()->del($key, "$key:lock");
        }
    }
}
