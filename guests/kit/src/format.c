/* A small vsnprintf: enough for test messages, no floating point. */
#include <kit/lib.h>

/*
 * Output is emitted in runs (memcpy) rather than per character: under a
 * software instruction emulator every guest memory access costs
 * microseconds, and most of a message is literal text or %s.
 */
struct out {
    char *buf;
    size_t size;
    size_t len; /* untruncated */
};

struct spec {
    bool left, zero, alt, upper;
    int width;
    int prec; /* -1: none */
    unsigned int base;
};

static void emit(struct out *o, const char *s, size_t n)
{
    if (o->len + 1 < o->size) {
        size_t room = o->size - 1 - o->len;
        char *d = o->buf + o->len;

        if (n < room)
            room = n;
        if (room < 8) /* not worth a call */
            while (room--)
                *d++ = *s++;
        else
            memcpy(d, s, room);
    }
    o->len += n;
}

static void put(struct out *o, char c)
{
    emit(o, &c, 1);
}

static void pad(struct out *o, char c, int n)
{
    static const char spaces[] = "                ";
    static const char zeros[] = "0000000000000000";
    const char *run = c == '0' ? zeros : spaces;

    for (; n > 0; n -= (int)sizeof(spaces) - 1)
        emit(o, run, n < (int)sizeof(spaces) - 1 ? (size_t)n : sizeof(spaces) - 1);
}

/* n / 10 and n % 10 without libgcc's 64-bit division on i386. */
static uint64_t divmod10(uint64_t n, unsigned int *rem)
{
#ifdef __x86_64__
    *rem = (unsigned int)(n % 10);
    return n / 10;
#else
    uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
    uint32_t qhi = hi / 10, r = hi % 10, qlo;

    /* r < 10, so r:lo / 10 fits in 32 bits. */
    __asm__("divl %[d]" : "=a"(qlo), "=d"(r) : "a"(lo), "d"(r), [d] "rm"(10u));
    *rem = r;
    return ((uint64_t)qhi << 32) | qlo;
#endif
}

static void put_number(struct out *o, uint64_t v, bool neg, const struct spec *s)
{
    static const char lower[] = "0123456789abcdef";
    static const char upper[] = "0123456789ABCDEF";
    const char *digits = s->upper ? upper : lower;
    char tmp[24];
    int n = 0;

    if (s->base == 10) {
        do {
            unsigned int r;

            v = divmod10(v, &r);
            tmp[n++] = digits[r];
        } while (v);
    } else {
        do {
            tmp[n++] = digits[v & 15];
            v >>= 4;
        } while (v);
    }

    int prec_zeros = s->prec > n ? s->prec - n : 0;
    int prefix = (neg ? 1 : 0) + (s->alt && s->base == 16 ? 2 : 0);
    int body = prefix + prec_zeros + n;
    int fill = s->width > body ? s->width - body : 0;
    char rev[sizeof(tmp)];

    if (!s->left && !(s->zero && s->prec < 0))
        pad(o, ' ', fill);
    if (neg)
        put(o, '-');
    if (s->alt && s->base == 16)
        emit(o, s->upper ? "0X" : "0x", 2);
    if (!s->left && s->zero && s->prec < 0)
        pad(o, '0', fill);
    pad(o, '0', prec_zeros);
    for (int i = 0; i < n; i++)
        rev[i] = tmp[n - 1 - i];
    emit(o, rev, (size_t)n);
    if (s->left)
        pad(o, ' ', fill);
}

static void put_string(struct out *o, const char *str, const struct spec *s)
{
    if (!str)
        str = "(null)";

    size_t n = s->prec >= 0 ? strnlen(str, (size_t)s->prec) : strlen(str);
    int fill = s->width > (int)n ? s->width - (int)n : 0;

    if (!s->left)
        pad(o, ' ', fill);
    emit(o, str, n);
    if (s->left)
        pad(o, ' ', fill);
}

static int parse_int(const char **p)
{
    int v = 0;

    while (**p >= '0' && **p <= '9')
        v = v * 10 + (*(*p)++ - '0');
    return v;
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = { .buf = buf, .size = size, .len = 0 };

    for (const char *p = fmt; *p; p++) {
        if (*p != '%') {
            const char *run = p;

            while (p[1] && p[1] != '%')
                p++;
            emit(&o, run, (size_t)(p - run + 1));
            continue;
        }

        struct spec s = { .prec = -1, .base = 10 };

        for (;; p++) {
            if (p[1] == '-')
                s.left = true;
            else if (p[1] == '0')
                s.zero = true;
            else if (p[1] == '#')
                s.alt = true;
            else
                break;
        }
        p++;
        if (*p == '*') {
            s.width = va_arg(ap, int);
            if (s.width < 0) {
                s.left = true;
                s.width = -s.width;
            }
            p++;
        } else {
            s.width = parse_int(&p);
        }
        if (*p == '.') {
            p++;
            if (*p == '*') {
                s.prec = va_arg(ap, int);
                p++;
            } else {
                s.prec = parse_int(&p);
            }
        }

        int lng = 0; /* -2 hh, -1 h, 1 l, 2 ll, 3 z */
        for (;; p++) {
            if (*p == 'l')
                lng = lng >= 1 ? 2 : 1;
            else if (*p == 'h')
                lng = lng <= -1 ? -2 : -1;
            else if (*p == 'z')
                lng = 3;
            else
                break;
        }

        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v;

            if (lng == 2)
                v = va_arg(ap, long long);
            else if (lng == 1 || lng == 3)
                v = va_arg(ap, long);
            else
                v = va_arg(ap, int);
            if (lng == -1)
                v = (short)v;
            else if (lng == -2)
                v = (signed char)v;
            put_number(&o, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0, &s);
            break;
        }
        case 'u':
        case 'x':
        case 'X': {
            uint64_t v;

            if (lng == 2)
                v = va_arg(ap, unsigned long long);
            else if (lng == 1 || lng == 3)
                v = va_arg(ap, unsigned long);
            else
                v = va_arg(ap, unsigned int);
            if (lng == -1)
                v = (unsigned short)v;
            else if (lng == -2)
                v = (unsigned char)v;
            if (*p != 'u')
                s.base = 16;
            s.upper = *p == 'X';
            put_number(&o, v, false, &s);
            break;
        }
        case 'p':
            s.base = 16;
            s.alt = true;
            put_number(&o, (uintptr_t)va_arg(ap, void *), false, &s);
            break;
        case 's':
            put_string(&o, va_arg(ap, const char *), &s);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case '%':
            put(&o, '%');
            break;
        case '\0':
            p--; /* stray '%' at the end */
            break;
        default:
            put(&o, '%');
            put(&o, *p);
            break;
        }
    }

    if (size)
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
