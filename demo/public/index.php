<?php

// Front controller and router of the demo app. Serve it with:
//   php -d extension=/path/to/libcannon_session.so -S 127.0.0.1:8080 -t demo/public demo/public/index.php

declare(strict_types=1);

// PSR-4-ish autoloading: App\Foo\Bar -> demo/App/Foo/Bar.php, Core\Baz -> demo/Core/Baz.php
spl_autoload_register(static function (string $class): void {
    $root = dirname(__DIR__);
    foreach (['App\\', 'Core\\'] as $prefix) {
        if (strncmp($class, $prefix, strlen($prefix)) === 0) {
            $file = $root . '/' . str_replace('\\', '/', $class) . '.php';
            if (is_file($file)) {
                require $file;
            }
            return;
        }
    }
});

header('Content-Type: text/plain; charset=utf-8');

$path = parse_url($_SERVER['REQUEST_URI'] ?? '/', PHP_URL_PATH);
if (!is_string($path) || $path === '') {
    $path = '/';
}

try {
    if ($path === '/') {
        (new App\Controller\HomeController())->indexAction();
    } elseif (preg_match('#^/update/([^/]+)/?$#', $path, $m)) {
        $id = (new App\Controller\HomeController())->updateAction(['id' => rawurldecode($m[1])]);
        echo 'updated id ', $id, "\n";
    } else {
        http_response_code(404);
        echo "not found: $path\n";
    }
} catch (Throwable $e) {
    if (!headers_sent()) {
        http_response_code(500);
    }
    echo get_class($e), ': ', $e->getMessage(), "\n";
    error_log('demo: ' . $e);
}
