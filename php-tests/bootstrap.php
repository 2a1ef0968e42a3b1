<?php

declare(strict_types=1);

// PHPUnit bootstrap: the extension under test must be loaded into the PHP running PHPUnit.

error_reporting(E_ALL);

if (!extension_loaded('cannon_session')) {
    fwrite(STDERR, <<<'MSG'

    php-tests/bootstrap.php: the cannon_session extension is NOT loaded into this PHP.
    Build it and run PHPUnit through PHP with the extension, e.g.:
        cargo build --release
        CANNON_EXT=$PWD/target/release/libcannon_session.so \
          php -d extension=$PWD/target/release/libcannon_session.so /usr/bin/phpunit -c php-tests/phpunit.xml.dist
    or simply: make test

    MSG);
    exit(1);
}

// Shared helpers: Cannon\Session\Tests\Support\X -> php-tests/Support/X.php,
// and any other Cannon\Session\Tests\Y\Z -> php-tests/Y/Z.php (base test cases and such).
spl_autoload_register(static function (string $class): void {
    $prefix = 'Cannon\\Session\\Tests\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
    if (is_file($file)) {
        require $file;
    }
});

// Child PHP processes started by the tests load the same .so as this one.
if (getenv('CANNON_EXT') === false || getenv('CANNON_EXT') === '') {
    putenv('CANNON_EXT=' . \Cannon\Session\Tests\Support\Env::extPath());
}
