"""Synthetic free text with a planted truth (cxpredict.synthetic.customers): stated reasons and comments of respondents,
and, with `generate(text=...)`, bilingual comments and ticket notes.

Without `text`: reasons follow the customer's most negative driver groups (often the second too), plus noise;
promoters mostly give none; about a third of respondents leave an English comment matching their lead reason.

With `text` ("en", "zh" or "mixed"; drawn from its own seeded stream, so the behaviour tables do not change):
- Every text has one or more planted topics (`TOPICS`), written from a bank of phrases per topic and language,
  with slot values (days, amounts), filler words, and in "mixed" mode a share of texts that mix both languages.
- Ticket notes follow the ticket's category and the customer's problems (a support saga writes "still waiting"),
  10% are about a random topic. The planted topic of each note is returned for the topic-purity benchmark.
- A hidden, text-only driver: of the customers with a ticket in the last 90 days, some met rude or misleading
  staff ("staff": -RUDE_EFFECT x `text_signal` points of satisfaction), some a very helpful agent ("helpful":
  +HELPFUL_EFFECT x `text_signal`); nothing but their ticket notes shows it. `text_signal=0` is the negative
  control: the same texts, no effect on satisfaction.
- Comments replace the English ones and follow the respondent's stated reason codes (the lead code always gets a
  phrase, later ones usually, 10% also name an unstated topic): reasons are planted through comments. Promoters
  without a reason mostly praise, or write nothing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# stated reason code -> driver theme ("coverage" is how customers often say network)
REASON_THEMES: dict[str, str] = {"network": "network", "coverage": "network", "billing": "billing",
                                 "support": "support", "delivery": "delivery", "price": "price", "usage": "usage",
                                 "other": "other"}
REASON_CODES = list(REASON_THEMES)
COMMENTS: dict[str, list[str]] = {  # by lead reason; "" = no reason given (mostly happy customers)
    "network": ["Calls keep dropping at home", "Signal is terrible, again", "No coverage in my street"],
    "coverage": ["No signal indoors", "Coverage map is a lie"],
    "billing": ["Bill went up 30%, no warning", "Charged twice this month", "Billing errors every quarter"],
    "support": ["Waited 3 days for an answer", 'Support "will call back" - never did', "Ticket still open"],
    "delivery": ["Router arrived a week late", "Engineer missed the appointment", "Delivery was late, twice"],
    "price": ["Too expensive for what I get", "Cheaper offers elsewhere (≈20 € less)"],
    "usage": ["I barely use it anymore", "Don't need this much data now"],
    "other": ["Just average", "Nothing special", "Meh."],
    "": ["Great service, thanks!", "Works fine", "Très bien, merci", "Friendly staff in the store"],
}


def reason_keys(rng: np.random.Generator, centred: np.ndarray, cls: np.ndarray,
                group_themes: list[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per respondent: a key into `reason_labels()` (-1: no reason) and the lead code index for the comment.

    centred: the respondents' centred driver-group contributions (columns in the order of `group_themes`).
    """
    m, code = len(cls), {c: i for i, c in enumerate(REASON_CODES)}
    group_code = np.array([code[theme or "other"] for theme in group_themes])
    ranked = np.argsort(centred, axis=1)[:, :2]
    second_value = np.take_along_axis(centred, ranked[:, 1:], axis=1)[:, 0]
    first = np.where(rng.random(m) < np.array([0.9, 0.55, 0.04])[cls], group_code[ranked[:, 0]], -1)
    second = np.where((cls < 2) & (second_value < -0.8) & (rng.random(m) < 0.6), group_code[ranked[:, 1]], -1)
    noise = np.where(rng.random(m) < 0.08, rng.integers(0, len(REASON_CODES), m), -1)
    codes = np.stack([first, second, noise], axis=1)
    codes[(codes == code["network"]) & (rng.random(codes.shape) < 0.3)] = code["coverage"]
    codes[codes[:, 1] == codes[:, 0], 1] = -1
    codes[(codes[:, 2] == codes[:, 0]) | (codes[:, 2] == codes[:, 1]), 2] = -1
    lead = np.max(np.where(codes >= 0, codes + 100 * np.array([3, 2, 1]), -1), axis=1) % 100  # first given code
    lead = np.where(codes.max(axis=1) < 0, np.where(cls == 0, code["other"], -1), lead)
    k = len(REASON_CODES) + 1
    key = ((codes[:, 0] + 1) * k + codes[:, 1] + 1) * k + codes[:, 2] + 1
    return np.where(codes.max(axis=1) >= 0, key, -1), lead


def reason_labels() -> list[str]:
    """'a;b;c' for every (first, second, third) combination of code indices, -1 meaning absent."""
    k = len(REASON_CODES) + 1
    combos = np.array(np.meshgrid(*[np.arange(-1, k - 1)] * 3, indexing="ij")).reshape(3, -1).T
    return [";".join(REASON_CODES[i] for i in row if i >= 0) for row in combos.tolist()]


def comment_index(rng: np.random.Generator, lead: np.ndarray) -> np.ndarray:
    """Index into the flattened COMMENTS of a comment matching the lead reason; -1 for the 65% who leave none."""
    sizes = np.array([len(COMMENTS[k]) for k in [*REASON_CODES, ""]])  # lead -1 -> the "" list
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    pick = starts[lead] + rng.integers(0, 1 << 30, len(lead)) % sizes[lead]
    return np.where(rng.random(len(lead)) < 0.35, pick, -1)


def comment_texts() -> list[str]:
    """The flattened COMMENTS, in the order `comment_index` indexes them."""
    return [t for k in [*REASON_CODES, ""] for t in COMMENTS[k]]


# --------------------------------------------------------------------------------------------- text=...
TEXT_MODES = ("en", "zh", "mixed")
RUDE_EFFECT, HELPFUL_EFFECT = 4.0, 3.0  # score points at text_signal=1
RUDE_SHARE, HELPFUL_SHARE = 0.45, 0.35  # of the customers with a ticket in the last 90 days
NOISE_TOPIC_SHARE = 0.10  # ticket notes about a random topic
MIXED_TEXT_SHARE = 0.10  # in "mixed" mode: texts with a phrase in the other language
MENTION_SHARE = 0.75  # a stated code after the first is written about in the comment
OFF_CODE_SHARE = 0.10  # comments that also mention a topic the respondent did not state as a reason
FILLER_SHARE = 0.3  # texts ending in a word or two that belong to no topic ("honestly", "谢谢")

# A phrase is a subject and a predicate of one topic, freely combined: the topic's words co-occur across its texts
# (as in real text), so a topic is a cluster of words, not a list of fixed sentences.
PHRASES: dict[str, dict[str, tuple[list[str], list[str]]]] = {
    "network": {
        "en": (["the network signal", "my mobile network", "network calls", "the network connection", "network data"],
               ["keep dropping", "drops every evening", "is terrible at home", "disconnects all the time",
                "cut out {n} times today", "is weak and unstable"]),
        "zh": (["网络信号", "移动网络", "网络通话", "网络连接", "网络数据"],
               ["总是掉线", "晚上断断续续", "在家里很差", "经常断开", "今天断了{n}次", "很弱很不稳定"])},
    "coverage": {
        "en": (["coverage", "indoor coverage", "the coverage map", "coverage in my area", "coverage at home"],
               ["is missing indoors", "is wrong for my street", "ends {n} km from town", "is a dead zone",
                "is zero in the basement"]),
        "zh": (["覆盖", "室内覆盖", "覆盖地图", "我所在区域的覆盖", "家里的覆盖"],
               ["室内完全没有", "和我的街道不符", "离市区{n}公里就没了", "是盲区", "在地下室为零"])},
    "billing": {
        "en": (["my bill", "the bill amount", "this month's bill", "my phone bill", "my last bill"],
               ["went up {n}% without warning", "is wrong again", "was charged twice", "has unexpected fees",
                "shows services i never ordered", "still lacks the refund after {d} days"]),
        "zh": (["账单", "账单金额", "这个月账单", "话费账单", "上个月的账单"],
               ["无缘无故涨了{n}%", "又出错了", "重复扣了两次", "有莫名其妙的费用", "里有我没订的业务",
                "退款{d}天了还没到"])},
    "support": {
        "en": (["support", "customer support", "my support ticket", "the support hotline", "support staff"],
               ["never called back", "kept me waiting {d} days", "is still open after {d} days",
                "keeps transferring me", "had me on hold for {n} minutes", "gave no answer"]),
        "zh": (["客服", "客服热线", "客服工单", "人工客服", "在线客服"],
               ["从来没有回电", "让我等了{d}天", "{d}天了还没处理", "一直转接", "让我排队{n}分钟", "没有任何答复"])},
    "delivery": {
        "en": (["the delivery", "my router delivery", "the delivery engineer", "the installation delivery",
                "the delivery courier"],
               ["arrived {d} days late", "missed the appointment", "never arrived", "was delayed again",
                "was late twice"]),
        "zh": (["快递", "路由器快递", "快递员", "安装快递", "快递包裹"],
               ["晚到了{d}天", "没按预约时间来", "一直没到", "又延期了", "晚了两次"])},
    "price": {
        "en": (["the price", "the monthly price", "this plan's price", "the price level"],
               ["is too expensive", "went up again", "is {n} more than elsewhere", "is too high for what i get"]),
        "zh": (["价格", "月租价格", "套餐价格", "资费价格"], ["太贵了", "又涨了", "比别家贵{n}块", "太高，不值"])},
    "usage": {
        "en": (["i", "we", "my family"], ["barely use the data anymore", "don't need this much data",
                                          "hardly use the service now", "want a smaller plan"]),
        "zh": (["我", "我们", "家里"], ["现在基本不用流量了", "用不了这么多流量", "很少用这个服务", "想换个小套餐"])},
    "other": {
        "en": (["it", "the service", "everything"], ["is just average", "is nothing special", "is ok i guess",
                                                     "could be better"]),
        "zh": (["总体", "服务", "一切"], ["一般般", "没什么特别", "还行吧", "可以更好"])},
    "praise": {
        "en": (["the service", "the speed", "the store team", "everything"],
               ["is great, thanks", "is excellent", "makes me very happy", "works perfectly"]),
        "zh": (["服务", "网速", "门店团队", "一切"], ["很好，谢谢", "非常棒", "让我很满意", "运行完美"])},
    "staff": {
        "en": (["the agent", "the sales agent", "the shop agent", "your agent"],
               ["was rude to me", "misled me about the contract", "promised a discount that never came",
                "was unprofessional and impolite", "lied about the terms"]),
        "zh": (["营业员", "门店营业员", "营业员小王", "那个营业员"],
               ["态度很恶劣", "在合同上误导我", "承诺的优惠没有兑现", "很不礼貌", "对条款撒谎"])},
    "helpful": {
        "en": (["the agent", "the support agent", "your staff", "the technician"],
               ["was very helpful", "solved it in minutes", "was friendly and patient", "went out of the way to help",
                "fixed everything quickly"]),
        "zh": (["工作人员", "客服小姐姐", "那位师傅", "技术员"],
               ["非常耐心", "几分钟就解决了", "特别热心", "主动帮我处理", "很快就修好了"])},
    "account": {
        "en": (["my account", "my account password", "my account address", "my account details", "my account contract"],
               ["needs an update", "must be changed", "question: how to change it", "please send it again",
                "needs a second line added"]),
        "zh": (["我的账户", "账户密码", "账户地址", "账户信息", "账户合同"],
               ["需要更新", "要修改", "请问怎么修改", "请重新发送", "想加一张副卡"])},
}
TOPICS = list(PHRASES)
COMMENT_TOPICS = ["network", "coverage", "billing", "support", "delivery", "price", "usage"]
FILLER = {"en": ["honestly", "please fix this", "again!!", "seriously", "thanks", "ok"],
          "zh": ["真的", "希望尽快解决", "！！", "说实话", "谢谢", "唉"]}
JOIN = {"en": ", ", "zh": "，"}
# ticket category (customers.TICKET_CATEGORIES) -> topic of its note
CATEGORY_TOPIC = {"billing": "billing", "network": "network", "delivery": "delivery", "other": "account"}


def _phrase(rng: np.random.Generator, topic: str, lang: str) -> str:
    subjects, predicates = PHRASES[topic][lang]
    text = subjects[int(rng.integers(len(subjects)))] + (" " if lang == "en" else "") + \
        predicates[int(rng.integers(len(predicates)))]
    return text.replace("{n}", str(int(rng.integers(2, 60)))).replace("{d}", str(int(rng.integers(2, 30))))


def _write(rng: np.random.Generator, topics: list[str], lang: str, mixed: bool) -> str:
    """One text about `topics` in `lang`, with filler, sometimes a phrase in the other language."""
    parts = [_phrase(rng, t, lang) for t in topics]
    if mixed and rng.random() < MIXED_TEXT_SHARE:
        other = "zh" if lang == "en" else "en"
        parts.append(_phrase(rng, topics[0], other))
    filler = FILLER[lang][int(rng.integers(len(FILLER[lang])))] if rng.random() < FILLER_SHARE else ""
    text = JOIN[lang].join(parts) + (JOIN[lang] + filler if filler else "")
    return text[0].upper() + text[1:] if lang == "en" and rng.random() < 0.5 else text


def customer_languages(rng: np.random.Generator, n: int, mode: str) -> np.ndarray:
    """The language each customer writes in."""
    if mode == "mixed":
        return np.where(rng.random(n) < 0.5, "en", "zh").astype(object)
    return np.full(n, mode, dtype=object)


def hidden_issue(rng: np.random.Generator, ticket_owner: np.ndarray, ticket_recent: np.ndarray, n: int) -> np.ndarray:
    """The text-only driver per customer: -1 rude or misleading staff, +1 a very helpful agent, 0 neither (and
    always 0 without a ticket in the last 90 days)."""
    has_recent = np.bincount(ticket_owner[ticket_recent], minlength=n) > 0
    u = rng.random(n)
    return (has_recent * np.where(u < RUDE_SHARE, -1, np.where(u < RUDE_SHARE + HELPFUL_SHARE, 1, 0))).astype(np.int8)


def staff_effect(hidden: np.ndarray) -> np.ndarray:
    """Satisfaction points of the hidden driver at text_signal=1."""
    return np.where(hidden < 0, -RUDE_EFFECT, np.where(hidden > 0, HELPFUL_EFFECT, 0.0))


def ticket_notes(rng: np.random.Generator, owner: np.ndarray, recent: np.ndarray, category: np.ndarray,
                 saga: np.ndarray, hidden: np.ndarray, languages: np.ndarray, mixed: bool
                 ) -> tuple[list[str], np.ndarray]:
    """A note per ticket and its planted topic. saga/hidden/languages are per customer (indexed by owner)."""
    topic = np.array([CATEGORY_TOPIC[c] for c in category], dtype=object)
    topic[np.isin(topic, ["network"]) & (rng.random(len(owner)) < 0.3)] = "coverage"
    topic[saga[owner] & recent & (rng.random(len(owner)) < 0.7)] = "support"
    topic[(hidden[owner] < 0) & recent] = "staff"
    topic[(hidden[owner] > 0) & recent] = "helpful"
    noise = rng.random(len(owner)) < NOISE_TOPIC_SHARE
    note_topics = [t for t in TOPICS if t not in ("praise", "other", "usage", "price", "helpful")]
    topic[noise] = np.asarray(note_topics, dtype=object)[rng.integers(0, len(note_topics), int(noise.sum()))]
    notes = [_write(rng, [t], languages[o], mixed) for t, o in zip(topic, owner)]
    return notes, topic


def comments(rng: np.random.Generator, reasons: pd.Series, score: np.ndarray, detractor_max: int,
             promoter_min: int, hidden: np.ndarray, languages: np.ndarray, mixed: bool) -> list[str | None]:
    """A comment per survey row from its stated codes (';'-separated; codes without a phrase bank count as
    'other'), or praise / nothing without codes; `hidden` and `languages` per survey row."""
    out: list[str | None] = []
    for codes, s, h, lang in zip(reasons.fillna("").astype("str"), score, hidden, languages):
        stated = [c if c in PHRASES else "other" for c in codes.split(";") if c]
        # the lead code is always written about, later ones often; sometimes an unstated topic slips in
        topics = stated[:1] + [c for c in stated[1:] if rng.random() < MENTION_SHARE]
        if topics and rng.random() < OFF_CODE_SHARE:
            topics.append(COMMENT_TOPICS[int(rng.integers(len(COMMENT_TOPICS)))])
        if h < 0 and s <= detractor_max and rng.random() < 0.5:
            topics.append("staff")
        if h > 0 and s >= promoter_min and rng.random() < 0.5:
            topics.append("helpful")
        if topics:
            out.append(_write(rng, topics, lang, mixed) if rng.random() < 0.9 else None)
        elif s >= promoter_min and rng.random() < 0.6:
            out.append(_write(rng, ["praise"], lang, mixed))
        else:
            out.append(_write(rng, ["other"], lang, mixed) if rng.random() < 0.2 else None)
    return out


def add_text(tables: dict[str, pd.DataFrame], rng: np.random.Generator, mode: str, ticket_owner: np.ndarray,
             ticket_recent: np.ndarray, saga: np.ndarray, hidden: np.ndarray, n: int, scale) -> dict[str, np.ndarray]:
    """Ticket notes (tickets.note) and bilingual comments (survey.comment replaced) for generate(text=...); returns
    the planted note topics. `scale`: the survey scale (its cut points decide who praises or complains)."""
    languages = customer_languages(rng, n, mode)
    mixed = mode == "mixed"
    tickets, survey = tables["tickets"], tables["survey"]
    notes, topics = ticket_notes(rng, ticket_owner, ticket_recent, tickets["category"].to_numpy(), saga, hidden,
                                 languages, mixed)
    tickets["note"] = pd.array(notes, dtype="str")
    position = survey["customer_id"].str.slice(1).astype("int64").to_numpy() - 1  # orphans lie beyond n
    inside = position < n
    who = np.where(inside, position, 0)
    lang = np.where(inside, languages[who], customer_languages(rng, len(position), mode))
    survey["comment"] = pd.array(comments(
        rng, survey["reasons"], survey["score"].to_numpy(), scale.detractor_max, scale.promoter_min,
        np.where(inside, hidden[who], 0), lang, mixed), dtype="str")
    return {"note_topic": topics, "note_language": languages[ticket_owner], "customer_language": languages}
