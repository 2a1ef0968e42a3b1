<?php

declare(strict_types=1);

namespace Cannon\Session\Tests;

use Cannon\Session\Tests\Support\Env;
use Cannon\Session\Tests\Support\PhpProcess;
use PHPUnit\Framework\TestCase;

use function Cannon\Session\Tests\SessionFixtures\describe_classes;

require_once __DIR__ . '/fixtures/session/describe.php';

/**
 * stubs/cannon_session.stub.php must declare exactly what the loaded extension declares: the same
 * classes, parents, interfaces, constants, properties and public methods with the same parameter
 * names, types, defaults and return types.
 *
 * The stub cannot be loaded here (its classes are the extension's, already declared), so a PHP
 * without the extension (`php -n`) includes it and reports what Reflection sees; both sides are
 * described by fixtures/session/describe.php.
 */
final class StubsTest extends TestCase
{
    private const EXTENSION = 'cannon_session';

    /** @var array{classes: array<string, mixed>, functions: list<string>, constants: array<string, string>, undocumented: list<string>}|null */
    private static ?array $stubSide = null;

    private static function stubPath(): string
    {
        return Env::repoRoot() . '/stubs/cannon_session.stub.php';
    }

    /**
     * Runs PHP code in `php -n` (no php.ini, hence no extension). Returns stdout; fails on errors.
     */
    private static function runWithoutExtension(string $code): string
    {
        $dir = PhpProcess::tempDir('cannon-stubs-');
        try {
            file_put_contents("$dir/script.php", $code);
            $proc = proc_open(
                [PHP_BINARY, '-n', '-d', 'error_reporting=-1', '-d', 'display_errors=stderr', "$dir/script.php"],
                [0 => ['file', '/dev/null', 'r'], 1 => ['file', "$dir/out", 'w'], 2 => ['file', "$dir/err", 'w']],
                $pipes
            );
            self::assertIsResource($proc);
            $deadline = microtime(true) + 20;
            while (($st = proc_get_status($proc))['running'] && microtime(true) < $deadline) {
                usleep(5000);
            }
            $exit = $st['running'] ? 124 : $st['exitcode']; // proc_close() cannot tell once reaped
            PhpProcess::kill($proc);
            proc_close($proc);
            $out = (string) file_get_contents("$dir/out");
            $err = (string) file_get_contents("$dir/err");
            self::assertSame('', $err, 'PHP without the extension complained');
            self::assertSame(0, $exit, 'PHP without the extension failed: ' . substr($out, 0, 2000));
            return $out;
        } finally {
            PhpProcess::removeDir($dir);
        }
    }

    /** What the stub declares, as seen by Reflection in a PHP without the extension. */
    private static function stubSide(): array
    {
        if (self::$stubSide === null) {
            $describe = var_export(__DIR__ . '/fixtures/session/describe.php', true);
            $stub = var_export(self::stubPath(), true);
            $ext = var_export(self::EXTENSION, true);
            $json = self::runWithoutExtension(<<<PHP
                <?php
                if (extension_loaded($ext)) { fwrite(STDERR, "the extension is loaded: cannot check the stub"); exit(1); }
                require $describe;
                \$classes = get_declared_classes();
                \$interfaces = get_declared_interfaces();
                \$functions = get_defined_functions()['user'];
                \$constants = get_defined_constants();
                ob_start();
                require $stub;
                if (ob_get_clean() !== '') { fwrite(STDERR, "the stub prints something"); exit(1); }
                \$new = array_merge(array_diff(get_declared_classes(), \$classes), array_diff(get_declared_interfaces(), \$interfaces));
                \$undocumented = [];
                foreach (\$new as \$c) {
                    if ((new ReflectionClass(\$c))->getDocComment() === false) { \$undocumented[] = \$c; }
                }
                echo json_encode([
                    'classes' => Cannon\\Session\\Tests\\SessionFixtures\\describe_classes(array_values(\$new)),
                    'functions' => array_values(array_diff(get_defined_functions()['user'], \$functions)),
                    'constants' => array_map('strval', array_diff_key(get_defined_constants(), \$constants)),
                    'undocumented' => \$undocumented,
                ], JSON_THROW_ON_ERROR);
                PHP);
            self::$stubSide = json_decode($json, true, 512, JSON_THROW_ON_ERROR);
        }
        return self::$stubSide;
    }

    /** What the loaded extension declares. */
    private static function extensionSide(): array
    {
        $ext = new \ReflectionExtension(self::EXTENSION);
        // Round-trip through JSON like the stub side, so both compare as equal types.
        return json_decode(json_encode(describe_classes($ext->getClassNames()), JSON_THROW_ON_ERROR), true);
    }

    public function testTheStubIsValidPhp(): void
    {
        $r = PhpProcess::run('passthru(' . var_export(PHP_BINARY . ' -n -l ' . escapeshellarg(self::stubPath()) . ' 2>&1', true) . ');');
        self::assertStringContainsString('No syntax errors detected', $r['stdout']);
    }

    public function testTheStubIsNotLoadedIntoThisProcess(): void
    {
        // Its classes are the extension's (internal), never user classes from the stub.
        foreach ((new \ReflectionExtension(self::EXTENSION))->getClassNames() as $class) {
            self::assertTrue((new \ReflectionClass($class))->isInternal(), $class);
        }
        self::assertNotContains(realpath(self::stubPath()), get_included_files());
    }

    public function testTheStubDeclaresExactlyTheExtensionsClasses(): void
    {
        $stub = array_keys(self::stubSide()['classes']);
        $ext = array_keys(self::extensionSide());
        self::assertSame($ext, $stub, 'classes in the extension (expected) and in the stub (actual)');
    }

    public function testEveryClassHasTheSameShapeInTheStub(): void
    {
        $stub = self::stubSide()['classes'];
        $checked = 0;
        foreach (self::extensionSide() as $class => $shape) {
            if (!isset($stub[$class])) {
                continue; // reported by testTheStubDeclaresExactlyTheExtensionsClasses
            }
            foreach (['kind', 'final', 'abstract', 'parent', 'interfaces', 'constants'] as $what) {
                self::assertSame($shape[$what], $stub[$class][$what], "$class: $what");
            }
            self::assertSame(array_keys($shape['properties']), array_keys($stub[$class]['properties']), "$class: properties");
            foreach ($shape['properties'] as $prop => $p) {
                self::assertSame($p, $stub[$class]['properties'][$prop], "$class::\$$prop");
            }
            self::assertSame(array_keys($shape['methods']), array_keys($stub[$class]['methods']), "$class: methods");
            foreach ($shape['methods'] as $method => $m) {
                self::assertSame($m, $stub[$class]['methods'][$method], "$class::$method()");
            }
            $checked++;
        }
        self::assertGreaterThanOrEqual(9, $checked);
    }

    public function testTheStubDeclaresTheExtensionsFunctionsAndConstants(): void
    {
        $ext = new \ReflectionExtension(self::EXTENSION);
        $functions = array_map('strtolower', array_keys($ext->getFunctions()));
        sort($functions);
        $stubFunctions = array_map('strtolower', self::stubSide()['functions']);
        sort($stubFunctions);
        self::assertSame($functions, $stubFunctions);

        $constants = array_map(fn ($v) => (string) $v, $ext->getConstants());
        ksort($constants);
        $stubConstants = self::stubSide()['constants'];
        ksort($stubConstants);
        self::assertSame($constants, $stubConstants);
    }

    public function testEveryClassIsDocumented(): void
    {
        self::assertSame([], self::stubSide()['undocumented']);
    }

    public function testTheStubNamesEveryIniEntryWithItsDefault(): void
    {
        $text = (string) file_get_contents(self::stubPath());
        $entries = (new \ReflectionExtension(self::EXTENSION))->getINIEntries();
        self::assertNotEmpty($entries);
        $defaults = PhpProcess::run('echo json_encode((new ReflectionExtension("cannon_session"))->getINIEntries());');
        foreach (json_decode($defaults['stdout'], true, 512, JSON_THROW_ON_ERROR) as $name => $default) {
            self::assertMatchesRegularExpression('/' . preg_quote($name, '/') . '\s*=\s*"?' . preg_quote((string) $default, '/') . '"?\s/',
                $text, "the stub documents $name = $default");
        }
    }
}
