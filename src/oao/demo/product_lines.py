"""The demo catalogue, as plain data: brands, product lines and who sells them at what price.

Brands are invented, so the made-up GTINs cannot be mistaken for a real
company's products. Prices are in fen (CNY minor units). `catalog.py` expands
the lines into products, offers and stock for the locations in `network.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from oao.demo.network import BAKERY, CONVENIENCE, COSMETICS, FRESH, ONLINE

# Fixed seed: the same demo (assortments, stock counts) on every machine.
SEED = 20261117


@dataclass(frozen=True)
class Brand:
    name: str
    name_zh: str
    gs1_prefix: str  # company prefix: 690-695 plus the company number


BRANDS = {
    "sweetlane": Brand("Sweet Lane", "甜巷烘焙", "6931207"),
    "goldenwheat": Brand("Golden Wheat", "金麦坊", "6925531"),
    "blueharbour": Brand("Blue Harbour", "蓝港鲜生", "69384412"),
    "westlake": Brand("West Lake Dairy", "西湖乳业", "6907718"),
    "prairie": Brand("Prairie Pure", "草原纯", "6911436"),
    "qiandao": Brand("Qiandao Lake Farms", "千岛湖农庄", "69420815"),
    "yunnansun": Brand("Yunnan Sun Orchards", "云南阳光果园", "69433027"),
    "zhoushan": Brand("Zhoushan Catch", "舟山海捕", "69412290"),
    "jinhua": Brand("Jinhua Heritage", "金华老字号", "6920947"),
    "panda": Brand("Happy Panda", "开心熊猫", "6924187"),
    "crispy": Brand("Crispy Day", "脆日子", "6935562"),
    "grandmawang": Brand("Grandma Wang", "王阿婆", "69501348"),
    "nutty": Brand("Nutty Grove", "坚果林", "6947760"),
    "clearpeak": Brand("Clear Peak", "清峰", "6921168"),
    "longjing": Brand("Longjing Garden", "龙井茶园", "6903315"),
    "tangerine": Brand("Tangerine Breeze", "橘风", "6936604"),
    "bubble": Brand("Bubble Up", "气泡工坊", "6917825"),
    "harbourcoffee": Brand("Harbour Coffee", "港湾咖啡", "69451193"),
    "qiantangbrew": Brand("Qiantang Brewery", "钱塘酿造", "6909421"),
    "masternoodle": Brand("Master Noodle", "面大师", "6922980"),
    "goldengrain": Brand("Golden Grain", "金谷", "6918006"),
    "oldhangzhou": Brand("Old Hangzhou", "老杭州", "6902713"),
    "cleanbreeze": Brand("Clean Breeze", "清风洁", "6926349"),
    "softcloud": Brand("Soft Cloud", "软云", "6930581"),
    "brighthome": Brand("Bright Home", "亮家", "69487732"),
    "puremint": Brand("Pure Mint", "纯薄荷", "6913094"),
    "silkwave": Brand("Silk Wave", "丝浪", "6940257"),
    "littlesprout": Brand("Little Sprout", "小芽", "69529016"),
    "happypaws": Brand("Happy Paws", "乐爪", "69538804"),
    "jadepetal": Brand("Jade Petal", "玉瓣", "6948815"),
    "lotusdew": Brand("Lotus Dew", "荷露", "6933470"),
    "snowlily": Brand("Snow Lily", "雪百合", "6919652"),
    "camellia": Brand("Camellia Lab", "山茶实验室", "69464021"),
    "petalkiss": Brand("Petal Kiss", "花吻", "69479563"),
}


@dataclass(frozen=True)
class Variant:
    label: str  # fills {v} in the title
    zh: str  # fills {z} in the Chinese name
    price: int | None = None  # fen; None keeps the line's price
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Line:
    """One product, or a family of products when it has variants."""

    category: str
    brand: str  # key of BRANDS
    title: str
    zh: str
    price: int  # fen, the brand's list price
    shelf_life_days: int | None = None  # set: perishable
    attrs: dict[str, Any] = field(default_factory=dict)
    variants: tuple[Variant, ...] = ()


def _flavours(pairs: str) -> tuple[Variant, ...]:
    """'Original/原味, Spicy/香辣' -> variants with the line's price."""
    return tuple(Variant(*item.strip().split("/")) for item in pairs.split(","))


def _sizes(*items: tuple[str, str, int]) -> tuple[Variant, ...]:
    return tuple(Variant(label, zh, price) for label, zh, price in items)


def _cake(title: str, zh: str, prices: tuple[int, int, int]) -> Line:
    sizes = tuple(Variant(f"{inch}-inch", f"{inch}寸", price, {"size_inch": inch, "serves": serves})
                  for (inch, serves), price in zip(((6, "4-6"), (8, "8-10"), (10, "12-15")), prices, strict=False))
    return Line("cakes", "sweetlane", f"{title} Birthday Cake {{v}}", f"{zh}生日蛋糕 {{z}}", prices[1], 1,
                {"occasion": "birthday", "order_ahead": "same day before 14:00"}, sizes)


def _care(brand: str, title: str, zh: str, price: int, skin_types: str, concern: str) -> Line:
    """A skincare product for the skin types it suits (S3's kiosk matches them to a skin reading)."""
    return Line("skincare", brand, title, zh, price, None,
                {"skin_type": skin_types.split(","), "concern": concern})


ADULT = {"age_restricted": True}

BAKERY_LINES = (
    Line("bakery", "sweetlane", "Hokkaido Milk Toast 400 g", "北海道牛奶吐司 400克", 1880, 3),
    Line("bakery", "sweetlane", "Whole Wheat Toast 400 g", "全麦吐司 400克", 1680, 3),
    Line("bakery", "sweetlane", "Pork Floss Roll", "肉松卷", 1280, 2),
    Line("bakery", "sweetlane", "Portuguese Egg Tarts 4 pcs", "葡式蛋挞 4只", 1990, 1),
    Line("bakery", "sweetlane", "Red Bean Bun", "红豆面包", 750, 2),
    Line("bakery", "sweetlane", "Custard Bun", "奶黄包", 750, 2),
    Line("bakery", "sweetlane", "Butter Croissant", "黄油可颂", 990, 2),
    Line("bakery", "sweetlane", "Almond Croissant", "杏仁可颂", 1380, 2),
    Line("bakery", "sweetlane", "Pain au Chocolat", "巧克力可颂", 1180, 2),
    Line("bakery", "sweetlane", "Mochi Bread 6 pcs", "麻薯面包 6只", 1080, 2),
    Line("bakery", "sweetlane", "Cheese Bun", "芝士面包", 950, 2),
    Line("bakery", "sweetlane", "Taro Bun", "香芋面包", 880, 2),
    Line("bakery", "sweetlane", "Coconut Bun", "椰蓉面包", 780, 2),
    Line("bakery", "sweetlane", "Matcha Swiss Roll", "抹茶瑞士卷", 2280, 2),
    Line("bakery", "sweetlane", "Tiramisu Cup", "提拉米苏杯", 2600, 2),
    Line("bakery", "sweetlane", "Mango Pancakes 2 pcs", "芒果班戟 2只", 2400, 1),
    Line("bakery", "sweetlane", "Durian Crepe Cake Slice", "榴莲千层切块", 2800, 2),
    Line("bakery", "sweetlane", "New York Cheesecake Slice", "纽约芝士蛋糕切块", 2600, 2),
    Line("bakery", "sweetlane", "Classic Baguette", "法棍", 1200, 1),
    Line("bakery", "sweetlane", "Garlic Baguette", "蒜香法棍", 1480, 2),
    Line("bakery", "sweetlane", "Scallion Bread", "香葱面包", 980, 2),
    Line("bakery", "sweetlane", "Ham and Egg Sandwich", "火腿鸡蛋三明治", 1580, 1),
    Line("bakery", "sweetlane", "Tuna Sandwich", "金枪鱼三明治", 1680, 1),
    Line("bakery", "sweetlane", "Chicken Floss Sandwich", "鸡肉松三明治", 1580, 1),
    _cake("Strawberry Cream", "草莓奶油", (19800, 26800, 36800)),
    _cake("Chocolate Truffle", "巧克力松露", (21800, 28800, 38800)),
    _cake("Mango Mousse", "芒果慕斯", (19800, 25800, 35800)),
    _cake("Matcha Red Bean", "抹茶红豆", (19800, 25800, 34800)),
    _cake("Black Forest", "黑森林", (18800, 24800, 33800)),
    _cake("Fruit Garden", "缤纷水果", (22800, 29800, 39800)),
    Line("bakery", "goldenwheat", "Sliced Milk Toast 400 g", "牛奶切片吐司 400克", 990, 7),
    Line("bakery", "goldenwheat", "Sliced Whole Wheat Bread 400 g", "全麦切片面包 400克", 1090, 7),
    Line("bakery", "goldenwheat", "Chocolate Swiss Roll 240 g", "巧克力瑞士卷 240克", 1290, 10),
    Line("bakery", "goldenwheat", "Egg Custard Cakes 8 pcs", "鸡蛋糕 8只", 1590, 15),
    Line("bakery", "goldenwheat", "Pork Floss Cakes 6 pcs", "肉松小贝 6只", 1690, 10),
    Line("bakery", "goldenwheat", "Brown Sugar Steamed Cake 400 g", "红糖发糕 400克", 1190, 5),
    Line("bakery", "blueharbour", "Freshly Baked Sourdough 500 g", "现烤酸种面包 500克", 3200, 2),
    Line("bakery", "blueharbour", "Soft Milk Rolls 6 pcs", "牛奶小餐包 6只", 1290, 2),
    Line("bakery", "blueharbour", "Salted Egg Yolk Puffs 4 pcs", "咸蛋黄酥 4只", 1990, 3),
    Line("bakery", "blueharbour", "Osmanthus Rice Cake 6 pcs", "桂花糕 6只", 1590, 2),
)

DAIRY_LINES = (
    Line("dairy", "westlake", "Fresh Pasteurised Milk {v}", "鲜牛奶 {z}", 1680, 7, {"storage": "2-6°C"},
         _sizes(("950 ml", "950毫升", 1680), ("450 ml", "450毫升", 950), ("250 ml", "250毫升", 550))),
    Line("dairy", "westlake", "Low-Fat Fresh Milk 950 ml", "低脂鲜牛奶 950毫升", 1580, 7, {"storage": "2-6°C"}),
    Line("dairy", "westlake", "Greek-Style Yogurt {v} 150 g", "希腊式酸奶 {z} 150克", 690, 21,
         {"storage": "2-6°C"},
         _flavours("Plain/原味, Strawberry/草莓, Blueberry/蓝莓, Peach/蜜桃, Mango/芒果")),
    Line("dairy", "westlake", "Drinking Yogurt {v} 200 g", "风味酸奶 {z} 200克", 450, 21, {"storage": "2-6°C"},
         _flavours("Original/原味, Red Date/红枣")),
    Line("dairy", "westlake", "Whipping Cream 250 ml", "淡奶油 250毫升", 1490, 30, {"storage": "2-6°C"}),
    Line("dairy", "prairie", "UHT Whole Milk 250 ml x 12", "纯牛奶 250毫升x12", 4990, 180),
    Line("dairy", "prairie", "UHT Skimmed Milk 250 ml x 12", "脱脂纯牛奶 250毫升x12", 5290, 180),
    Line("dairy", "prairie", "High-Protein Milk 200 ml x 10", "高蛋白牛奶 200毫升x10", 5990, 180),
    Line("dairy", "prairie", "Kids' Growth Milk 190 ml x 12", "儿童成长牛奶 190毫升x12", 5600, 180),
    Line("dairy", "prairie", "Mozzarella Shreds 200 g", "马苏里拉芝士碎 200克", 2590, 90),
    Line("dairy", "prairie", "Cheese Sticks 20 pcs", "奶酪棒 20支", 3990, 120),
    Line("dairy", "prairie", "Unsalted Butter 200 g", "无盐黄油 200克", 2990, 120),
    Line("dairy", "prairie", "Lactobacillus Drink 100 ml x 5", "乳酸菌饮品 100毫升x5", 990, 30),
    Line("dairy", "prairie", "Oat Milk 1 L", "燕麦奶 1升", 2290, 270),
)

FRESH_LINES = (
    Line("fresh_produce", "qiandao", "Baby Bok Choy 300 g", "上海青 300克", 590, 3, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Napa Cabbage 1 head", "大白菜 1颗", 690, 7, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Spinach 300 g", "菠菜 300克", 650, 3, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Water Spinach 300 g", "空心菜 300克", 590, 2, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Lotus Root 500 g", "莲藕 500克", 990, 7, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Spring Bamboo Shoots 500 g", "春笋 500克", 1680, 3, {"origin": "Lin'an"}),
    Line("fresh_produce", "qiandao", "Cherry Tomatoes 500 g", "圣女果 500克", 1290, 5, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Cucumbers 3 pcs", "黄瓜 3根", 690, 5, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Eggplants 2 pcs", "茄子 2根", 750, 5, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Broccoli 1 head", "西兰花 1颗", 890, 5, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Shiitake Mushrooms 200 g", "香菇 200克", 990, 5, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Enoki Mushrooms 200 g", "金针菇 200克", 390, 5, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Potatoes 1 kg", "土豆 1公斤", 790, 14, {"origin": "Inner Mongolia"}),
    Line("fresh_produce", "qiandao", "Carrots 500 g", "胡萝卜 500克", 450, 14, {"origin": "Shandong"}),
    Line("fresh_produce", "qiandao", "Scallions 100 g", "小葱 100克", 250, 3, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Ginger 200 g", "生姜 200克", 490, 21, {"origin": "Shandong"}),
    Line("fresh_produce", "qiandao", "Garlic 250 g", "大蒜 250克", 550, 30, {"origin": "Shandong"}),
    Line("fresh_produce", "qiandao", "Sweet Corn 2 cobs", "甜玉米 2根", 790, 4, {"origin": "Yunnan"}),
    Line("fresh_produce", "qiandao", "Free-Range Eggs 10 pcs", "散养鸡蛋 10枚", 1890, 21, {"origin": "Zhejiang"}),
    Line("fresh_produce", "qiandao", "Firm Tofu 400 g", "老豆腐 400克", 450, 3, {"origin": "Hangzhou"}),
    Line("fresh_produce", "qiandao", "Silken Tofu 350 g", "内酯豆腐 350克", 390, 5, {"origin": "Hangzhou"}),
    Line("fresh_produce", "yunnansun", "Fuji Apples 4 pcs", "红富士苹果 4个", 1990, 21, {"origin": "Shaanxi"}),
    Line("fresh_produce", "yunnansun", "Navel Oranges 1 kg", "赣南脐橙 1公斤", 1680, 21, {"origin": "Jiangxi"}),
    Line("fresh_produce", "yunnansun", "Bananas 1 kg", "香蕉 1公斤", 990, 5, {"origin": "Yunnan"}),
    Line("fresh_produce", "yunnansun", "Strawberries 500 g", "丹东草莓 500克", 3990, 3, {"origin": "Liaoning"}),
    Line("fresh_produce", "yunnansun", "Blueberries 125 g", "蓝莓 125克", 1990, 7, {"origin": "Yunnan"}),
    Line("fresh_produce", "yunnansun", "Red-Heart Kiwifruit 6 pcs", "红心猕猴桃 6个", 2990, 10,
         {"origin": "Sichuan"}),
    Line("fresh_produce", "yunnansun", "Mangoes 2 pcs", "芒果 2个", 2280, 5, {"origin": "Hainan"}),
    Line("fresh_produce", "yunnansun", "Red Dragon Fruit 2 pcs", "红心火龙果 2个", 1890, 7, {"origin": "Guangxi"}),
    Line("fresh_produce", "yunnansun", "Shine Muscat Grapes 500 g", "阳光玫瑰葡萄 500克", 3590, 7,
         {"origin": "Yunnan"}),
    Line("fresh_produce", "yunnansun", "Korla Fragrant Pears 1 kg", "库尔勒香梨 1公斤", 1880, 21,
         {"origin": "Xinjiang"}),
    Line("fresh_produce", "yunnansun", "Yangmei Bayberries 500 g", "仙居杨梅 500克", 4500, 2,
         {"origin": "Zhejiang"}),
    Line("fresh_produce", "yunnansun", "Watermelon Quarter", "西瓜 四分之一", 1290, 2, {"origin": "Hainan"}),
    Line("fresh_produce", "yunnansun", "Pineapple 1 pc", "菠萝 1个", 1690, 7, {"origin": "Guangdong"}),
    Line("fresh_produce", "yunnansun", "Avocados 2 pcs", "牛油果 2个", 1990, 7, {"origin": "Yunnan"}),
)

MEAT_LINES = (
    Line("meat_seafood", "zhoushan", "Large Yellow Croaker 500 g", "大黄鱼 500克", 3990, 2),
    Line("meat_seafood", "zhoushan", "Hairtail Fillets 400 g", "带鱼段 400克", 3590, 3),
    Line("meat_seafood", "zhoushan", "Whiteleg Shrimp 400 g", "白虾 400克", 4590, 2),
    Line("meat_seafood", "zhoushan", "Swimming Crabs 2 pcs", "梭子蟹 2只", 7900, 1),
    Line("meat_seafood", "zhoushan", "Clams 500 g", "花蛤 500克", 1990, 1),
    Line("meat_seafood", "zhoushan", "Squid Rings 300 g", "鱿鱼圈 300克", 2690, 3),
    Line("meat_seafood", "blueharbour", "Pork Belly 500 g", "五花肉 500克", 2990, 3),
    Line("meat_seafood", "blueharbour", "Pork Spare Ribs 500 g", "肋排 500克", 3990, 3),
    Line("meat_seafood", "blueharbour", "Minced Pork 400 g", "猪肉糜 400克", 1990, 2),
    Line("meat_seafood", "blueharbour", "Beef Brisket 500 g", "牛腩 500克", 5990, 3),
    Line("meat_seafood", "blueharbour", "Chicken Thighs 600 g", "鸡腿 600克", 2590, 3),
    Line("meat_seafood", "blueharbour", "Whole Chicken 1.2 kg", "三黄鸡 1.2公斤", 4990, 3),
    Line("meat_seafood", "blueharbour", "Chicken Wings 500 g", "鸡翅中 500克", 2990, 3),
    Line("meat_seafood", "blueharbour", "Live Mandarin Fish 600 g", "鲜活鳜鱼 600克", 5800, 1),
    Line("meat_seafood", "jinhua", "Jinhua Ham Slices 200 g", "金华火腿片 200克", 4990, 60),
    Line("meat_seafood", "jinhua", "Dongpo Pork 400 g", "东坡肉 400克", 3990, 5, {"ready_meal": True}),
    Line("meat_seafood", "jinhua", "Beggar's Chicken 800 g", "叫花鸡 800克", 8800, 5, {"ready_meal": True}),
    Line("meat_seafood", "jinhua", "West Lake Vinegar Fish 600 g", "西湖醋鱼 600克", 6800, 2,
         {"ready_meal": True}),
)

SNACK_LINES = (
    Line("snacks", "panda", "Potato Chips {v} 70 g", "薯片 {z} 70克", 790, None, {},
         _flavours("Original/原味, Cucumber/黄瓜味, Tomato/番茄味, Spicy Crayfish/麻辣小龙虾味, Seaweed/海苔味")),
    Line("snacks", "panda", "Shrimp Crackers 90 g", "虾条 90克", 650),
    Line("snacks", "panda", "Corn Puffs 100 g", "玉米棒 100克", 590),
    Line("snacks", "panda", "Milk Chocolate Bar 100 g", "牛奶巧克力 100克", 1490),
    Line("snacks", "panda", "Creamy Milk Candy 227 g", "奶糖 227克", 1990),
    Line("snacks", "crispy", "Rice Crackers {v} 150 g", "米饼 {z} 150克", 890, None, {},
         _flavours("Original/原味, Seaweed/海苔味, Sweet Chili/甜辣味")),
    Line("snacks", "crispy", "Wafer Rolls 200 g", "威化卷 200克", 1290),
    Line("snacks", "crispy", "Sandwich Biscuits {v} 300 g", "夹心饼干 {z} 300克", 1190, None, {},
         _flavours("Chocolate/巧克力味, Vanilla/香草味, Lemon/柠檬味")),
    Line("snacks", "crispy", "Soda Crackers 400 g", "苏打饼干 400克", 990),
    Line("snacks", "grandmawang", "Spicy Dried Tofu 200 g", "香辣豆干 200克", 990),
    Line("snacks", "grandmawang", "Braised Duck Necks 180 g", "卤鸭脖 180克", 2690),
    Line("snacks", "grandmawang", "Spicy Gluten Strips 100 g", "辣条 100克", 450),
    Line("snacks", "grandmawang", "Marinated Quail Eggs 20 pcs", "卤鹌鹑蛋 20枚", 1290),
    Line("snacks", "grandmawang", "Beef Jerky {v} 100 g", "牛肉干 {z} 100克", 2990, None, {},
         _flavours("Original/原味, Five-Spice/五香味, Spicy/麻辣味")),
    Line("snacks", "grandmawang", "Lin'an Dried Bamboo Shoots 150 g", "临安笋干 150克", 1590),
    Line("snacks", "nutty", "Lin'an Pecans 200 g", "临安山核桃 200克", 4990),
    Line("snacks", "nutty", "Daily Mixed Nuts 25 g x 7", "每日坚果 25克x7", 3990),
    Line("snacks", "nutty", "Roasted Cashews 200 g", "烤腰果 200克", 3590),
    Line("snacks", "nutty", "Pistachios 200 g", "开心果 200克", 3290),
    Line("snacks", "nutty", "Dried Mango 120 g", "芒果干 120克", 1590),
    Line("snacks", "nutty", "Sunflower Seeds {v} 260 g", "瓜子 {z} 260克", 1290, None, {},
         _flavours("Original/原味, Caramel/焦糖味, Walnut/山核桃味")),
    Line("snacks", "nutty", "Pumpkin Seeds 200 g", "南瓜子 200克", 1690),
    Line("snacks", "nutty", "Candied Haws 300 g", "山楂条 300克", 1280),
)

BEVERAGE_LINES = (
    Line("beverages", "clearpeak", "Natural Mineral Water {v}", "天然矿泉水 {z}", 200, None, {},
         _sizes(("550 ml", "550毫升", 200), ("1.5 L", "1.5升", 450), ("550 ml x 24", "550毫升x24", 4800),
                ("4 L", "4升", 1090))),
    Line("beverages", "clearpeak", "Sparkling Water {v} 480 ml", "气泡水 {z} 480毫升", 550, None, {},
         _flavours("Original/原味, Lime/青柠味, Peach/白桃味, Grapefruit/西柚味")),
    Line("beverages", "longjing", "Pre-Qingming West Lake Longjing Tea 100 g", "明前西湖龙井 100克", 36800),
    Line("beverages", "longjing", "West Lake Longjing Tea 250 g", "西湖龙井 250克", 25800),
    Line("beverages", "longjing", "Jasmine Tea Bags 25 pcs", "茉莉花茶包 25袋", 1990),
    Line("beverages", "longjing", "Bottled Green Tea {v} 500 ml", "瓶装绿茶 {z} 500毫升", 400, None, {},
         _flavours("Unsweetened/无糖, Lightly Sweet/低糖, Jasmine/茉莉")),
    Line("beverages", "longjing", "Unsweetened Oolong Tea 500 ml", "无糖乌龙茶 500毫升", 450),
    Line("beverages", "longjing", "Hangzhou Chrysanthemum Tea 500 ml", "杭白菊花茶 500毫升", 400),
    Line("beverages", "tangerine", "NFC Orange Juice {v}", "NFC橙汁 {z}", 990, 30, {"storage": "2-6°C"},
         _sizes(("300 ml", "300毫升", 990), ("1 L", "1升", 2690))),
    Line("beverages", "tangerine", "Apple Juice 1 L", "苹果汁 1升", 1590),
    Line("beverages", "tangerine", "Coconut Water 330 ml", "椰子水 330毫升", 890),
    Line("beverages", "tangerine", "Sour Plum Drink 500 ml", "酸梅汤 500毫升", 500),
    Line("beverages", "tangerine", "Mango Juice Drink 450 ml", "芒果汁饮料 450毫升", 550),
    Line("beverages", "bubble", "Cola {v}", "可乐 {z}", 300, None, {},
         _sizes(("330 ml can", "330毫升罐装", 300), ("500 ml", "500毫升", 350),
                ("330 ml x 24", "330毫升x24", 5800), ("Zero Sugar 330 ml can", "零糖 330毫升罐装", 300))),
    Line("beverages", "bubble", "Lemon Soda 330 ml", "柠檬汽水 330毫升", 300),
    Line("beverages", "bubble", "Energy Drink 250 ml", "能量饮料 250毫升", 600),
    Line("beverages", "bubble", "Sports Drink {v} 600 ml", "运动饮料 {z} 600毫升", 550, None, {},
         _flavours("Lemon/柠檬味, Orange/橙味")),
    Line("beverages", "harbourcoffee", "Cold Brew Coffee {v} 270 ml", "冷萃咖啡 {z} 270毫升", 990, None, {},
         _flavours("Black/黑咖啡, Latte/拿铁, Oat Latte/燕麦拿铁")),
    Line("beverages", "harbourcoffee", "Instant Coffee 2-in-1 30 sticks", "二合一速溶咖啡 30条", 3990),
    Line("beverages", "harbourcoffee", "Drip Coffee Bags 10 pcs", "挂耳咖啡 10袋", 3590),
    Line("beverages", "harbourcoffee", "Yunnan Coffee Beans 250 g", "云南咖啡豆 250克", 6800),
    Line("beverages", "qiantangbrew", "Lager 500 ml can", "拉格啤酒 500毫升罐装", 550, None, ADULT),
    Line("beverages", "qiantangbrew", "Lager 500 ml x 12", "拉格啤酒 500毫升x12", 5900, None, ADULT),
    Line("beverages", "qiantangbrew", "Wheat Beer 330 ml", "小麦啤酒 330毫升", 990, None, ADULT),
    Line("beverages", "qiantangbrew", "Shaoxing Yellow Wine 500 ml", "绍兴黄酒 500毫升", 1580, None, ADULT),
)

GROCERY_LINES = (
    Line("grocery", "masternoodle", "Braised Beef Noodles {v}", "红烧牛肉面 {z}", 550, None, {},
         _sizes(("bowl", "桶装", 550), ("5-pack", "5连包", 1590))),
    Line("grocery", "masternoodle", "Pickled Cabbage Noodles bowl", "老坛酸菜面 桶装", 550),
    Line("grocery", "masternoodle", "Tomato and Egg Noodles bowl", "番茄鸡蛋面 桶装", 550),
    Line("grocery", "masternoodle", "Self-Heating Spicy Hot Pot 400 g", "自热麻辣火锅 400克", 2990),
    Line("frozen", "masternoodle", "Pork and Cabbage Dumplings 1 kg", "猪肉白菜水饺 1公斤", 3290, 365),
    Line("frozen", "masternoodle", "Shrimp Wontons 500 g", "鲜虾馄饨 500克", 2690, 365),
    Line("frozen", "masternoodle", "Black Sesame Tangyuan 500 g", "黑芝麻汤圆 500克", 1590, 365),
    Line("frozen", "blueharbour", "Ice Cream Bar {v} 75 g", "冰淇淋 {z} 75克", 650, 365, {},
         _flavours("Matcha/抹茶, Vanilla/香草, Chocolate/巧克力, Red Bean/红豆")),
    Line("grocery", "goldengrain", "Northeast Rice 5 kg", "东北大米 5公斤", 5990),
    Line("grocery", "goldengrain", "Jasmine Rice 2.5 kg", "茉莉香米 2.5公斤", 3690),
    Line("grocery", "goldengrain", "Peanut Oil 1.8 L", "花生油 1.8升", 4990),
    Line("grocery", "goldengrain", "Rapeseed Oil 5 L", "菜籽油 5升", 7990),
    Line("grocery", "goldengrain", "Plain Flour 2.5 kg", "中筋面粉 2.5公斤", 1990),
    Line("grocery", "goldengrain", "Rice Noodles 400 g", "米粉 400克", 890),
    Line("grocery", "oldhangzhou", "Light Soy Sauce 500 ml", "生抽 500毫升", 1290),
    Line("grocery", "oldhangzhou", "Dark Soy Sauce 500 ml", "老抽 500毫升", 1390),
    Line("grocery", "oldhangzhou", "Zhenjiang Black Vinegar 500 ml", "镇江香醋 500毫升", 990),
    Line("grocery", "oldhangzhou", "Oyster Sauce 510 g", "蚝油 510克", 1490),
    Line("grocery", "oldhangzhou", "Chili Oil 210 g", "辣椒油 210克", 1290),
    Line("grocery", "oldhangzhou", "Sesame Paste 300 g", "芝麻酱 300克", 1690),
    Line("grocery", "oldhangzhou", "Rock Sugar 400 g", "冰糖 400克", 990),
    Line("grocery", "oldhangzhou", "Shaoxing Cooking Wine 500 ml", "绍兴料酒 500毫升", 890),
    Line("grocery", "oldhangzhou", "Sichuan Peppercorns 50 g", "花椒 50克", 790),
    Line("grocery", "oldhangzhou", "Pickled Mustard Greens 80 g x 10", "榨菜 80克x10", 1200),
)

HOUSEHOLD_LINES = (
    Line("household", "cleanbreeze", "Laundry Detergent {v}", "洗衣液 {z}", 3690, None, {},
         _sizes(("2 kg", "2公斤", 3690), ("3 kg", "3公斤", 4990), ("1 kg refill", "1公斤补充装", 1990))),
    Line("household", "cleanbreeze", "Laundry Pods 30 pcs", "洗衣凝珠 30颗", 4990),
    Line("household", "cleanbreeze", "Dishwashing Liquid {v} 1.1 kg", "洗洁精 {z} 1.1公斤", 1590, None, {},
         _flavours("Lemon/柠檬, Green Tea/绿茶")),
    Line("household", "cleanbreeze", "Toilet Cleaner 500 g", "洁厕液 500克", 1290),
    Line("household", "cleanbreeze", "Kitchen Degreaser 500 ml", "厨房重油污净 500毫升", 1990),
    Line("household", "cleanbreeze", "Floor Cleaner 1 L", "地板清洁剂 1升", 2490),
    Line("household", "softcloud", "Facial Tissues 3-ply {v}", "抽纸 三层 {z}", 1990, None, {},
         _sizes(("6 packs", "6包", 1990), ("18 packs", "18包", 5490))),
    Line("household", "softcloud", "Toilet Paper 4-ply 10 rolls", "卷纸 四层 10卷", 3290),
    Line("household", "softcloud", "Pocket Tissues 10 packs", "手帕纸 10包", 690),
    Line("household", "softcloud", "Wet Wipes 80 sheets", "湿巾 80抽", 1290),
    Line("household", "softcloud", "Kitchen Towels 2 rolls", "厨房纸 2卷", 1590),
    Line("household", "brighthome", "Garbage Bags 100 pcs", "垃圾袋 100只", 1490),
    Line("household", "brighthome", "Cling Film 30 m", "保鲜膜 30米", 1290),
    Line("household", "brighthome", "Aluminium Foil 10 m", "锡纸 10米", 1590),
    Line("household", "brighthome", "Sponge Scourers 6 pcs", "海绵百洁布 6片", 990),
    Line("household", "brighthome", "AA Alkaline Batteries 4 pcs", "5号碱性电池 4节", 1990),
    Line("household", "brighthome", "LED Bulb 9 W", "LED灯泡 9瓦", 1290),
    Line("household", "brighthome", "Folding Umbrella", "折叠伞", 3990),
    Line("household", "brighthome", "USB-C Charging Cable 1 m", "USB-C充电线 1米", 2990),
)

PERSONAL_CARE_LINES = (
    Line("personal_care", "puremint", "Toothpaste {v} 120 g", "牙膏 {z} 120克", 1490, None, {},
         _flavours("Whitening/美白, Sensitive/抗敏感, Green Tea/绿茶")),
    Line("personal_care", "puremint", "Electric Toothbrush Heads 2 pcs", "电动牙刷头 2支", 3990),
    Line("personal_care", "puremint", "Soft Toothbrushes 4 pcs", "软毛牙刷 4支", 1990),
    Line("personal_care", "puremint", "Mouthwash 500 ml", "漱口水 500毫升", 2990),
    Line("personal_care", "silkwave", "Shampoo {v} 400 ml", "洗发水 {z} 400毫升", 3990, None, {},
         _flavours("Anti-Dandruff/去屑, Smooth & Shine/柔顺, Ginger/生姜")),
    Line("personal_care", "silkwave", "Conditioner 400 ml", "护发素 400毫升", 3990),
    Line("personal_care", "silkwave", "Body Wash {v} 750 ml", "沐浴露 {z} 750毫升", 3290, None, {},
         _flavours("Milk/牛奶, Osmanthus/桂花")),
    Line("personal_care", "silkwave", "Hand Soap 300 ml", "洗手液 300毫升", 1590),
    Line("personal_care", "silkwave", "Sanitary Pads Day 10 pcs", "日用卫生巾 10片", 1690),
    Line("personal_care", "silkwave", "Disposable Razors 5 pcs", "一次性剃须刀 5支", 2490),
    Line("baby", "littlesprout", "Diapers Size {v}", "纸尿裤 {z}", 8900, None, {},
         _sizes(("M 58 pcs", "M码 58片", 8900), ("L 50 pcs", "L码 50片", 8900))),
    Line("baby", "littlesprout", "Baby Wipes 80 sheets x 3", "婴儿湿巾 80抽x3", 2990),
    Line("baby", "littlesprout", "Infant Formula Stage 1 800 g", "婴儿配方奶粉 1段 800克", 29800),
    Line("baby", "littlesprout", "Baby Rice Cereal 225 g", "婴儿米粉 225克", 3990),
    Line("pet", "happypaws", "Cat Food Chicken 1.5 kg", "猫粮 鸡肉味 1.5公斤", 5990),
    Line("pet", "happypaws", "Dog Treats 100 g", "狗零食 100克", 1990),
    Line("pet", "happypaws", "Tofu Cat Litter 6 L", "豆腐猫砂 6升", 2990),
)

COSMETICS_LINES = (
    _care("jadepetal", "Hydrating Toner 150 ml", "补水爽肤水 150毫升", 12900, "dry,normal", "hydration"),
    _care("jadepetal", "Hyaluronic Acid Essence 30 ml", "玻尿酸精华 30毫升", 19900, "dry,normal,combination",
          "hydration"),
    _care("jadepetal", "Gentle Amino Acid Cleanser 120 g", "氨基酸洁面 120克", 8900, "sensitive,dry,normal",
          "cleansing"),
    _care("jadepetal", "Oil-Control Clay Mask 100 g", "控油泥膜 100克", 11900, "oily,combination", "oil control"),
    _care("jadepetal", "Soothing Cream 50 g", "舒缓面霜 50克", 16900, "sensitive", "redness"),
    _care("jadepetal", "Brightening Serum 30 ml", "亮肤精华 30毫升", 25900, "normal,combination,oily",
          "brightening"),
    _care("jadepetal", "Night Repair Cream 50 g", "夜间修护霜 50克", 28900, "dry,normal", "anti-ageing"),
    _care("jadepetal", "Firming Eye Cream 15 g", "紧致眼霜 15克", 19900, "dry,normal,combination,oily",
          "anti-ageing"),
    _care("jadepetal", "Hydrating Sheet Masks 5 pcs", "补水面膜 5片", 6900, "dry,normal,combination,sensitive",
          "hydration"),
    _care("jadepetal", "Micellar Cleansing Water 400 ml", "卸妆水 400毫升", 9900,
          "sensitive,dry,normal,combination,oily", "cleansing"),
    Line("skincare", "lotusdew", "Sunscreen SPF50+ PA++++ {v} 50 ml", "防晒霜 SPF50+ {z} 50毫升", 13900, None,
         {"concern": "sun protection", "spf": 50},
         (Variant("for Oily Skin", "油皮适用", None, {"skin_type": ["oily", "combination"]}),
          Variant("for Sensitive Skin", "敏感肌适用", None, {"skin_type": ["sensitive", "dry"]}))),
    _care("lotusdew", "Lotus Moisturising Lotion 120 ml", "莲花保湿乳 120毫升", 15900, "dry,normal", "hydration"),
    _care("lotusdew", "Acne Spot Gel 15 g", "祛痘凝胶 15克", 7900, "oily", "acne"),
    _care("lotusdew", "Salicylic Acid Cleanser 150 ml", "水杨酸洁面 150毫升", 8900, "oily,combination", "acne"),
    _care("lotusdew", "Rose Facial Mist 100 ml", "玫瑰喷雾 100毫升", 7900, "dry,normal,sensitive", "hydration"),
    _care("snowlily", "Whitening Cream 50 g", "美白霜 50克", 23900, "normal,combination", "brightening"),
    _care("snowlily", "Peptide Firming Serum 30 ml", "多肽紧致精华 30毫升", 32900, "dry,normal", "anti-ageing"),
    _care("snowlily", "Ginseng Revitalising Essence 150 ml", "人参焕活精华水 150毫升", 29900,
          "dry,normal,combination", "anti-ageing"),
    _care("snowlily", "Cica Repair Masks 5 pcs", "积雪草修护面膜 5片", 9900, "sensitive,oily", "redness"),
    _care("snowlily", "Retinol Night Serum 30 ml", "视黄醇晚安精华 30毫升", 27900, "normal,oily,combination",
          "anti-ageing"),
    _care("camellia", "Camellia Oil Cleansing Balm 100 g", "山茶花卸妆膏 100克", 13900, "dry,normal,combination",
          "cleansing"),
    _care("camellia", "Camellia Seed Face Oil 30 ml", "山茶籽面部精油 30毫升", 18900, "dry", "hydration"),
    _care("camellia", "Barrier Repair Cream 50 ml", "屏障修护霜 50毫升", 17900, "sensitive,dry", "redness"),
    _care("camellia", "Ceramide Lotion 100 ml", "神经酰胺乳液 100毫升", 14900, "sensitive,dry,normal", "hydration"),
    Line("makeup", "jadepetal", "Cushion Foundation {v} 15 g", "气垫粉底 {z} 15克", 19900, None,
         {"skin_type": ["normal", "dry", "combination"], "finish": "dewy"},
         (Variant("Ivory", "象牙白", None, {"shade": "ivory"}),
          Variant("Natural", "自然色", None, {"shade": "natural"}),
          Variant("Warm Beige", "暖米色", None, {"shade": "warm beige"}))),
    Line("makeup", "jadepetal", "Liquid Eyeliner Black", "眼线液笔 黑色", 6900),
    Line("makeup", "jadepetal", "Brow Pencil {v}", "眉笔 {z}", 4900, None, {},
         _flavours("Grey Brown/灰棕色, Dark Brown/深棕色")),
    Line("makeup", "jadepetal", "Loose Setting Powder 8 g", "定妆散粉 8克", 12900, None,
         {"skin_type": ["oily", "combination"]}),
    Line("makeup", "jadepetal", "Matte Lipstick {v}", "哑光口红 {z}", 14900, None, {},
         _flavours("Rose Red/玫瑰红, Brick Red/砖红色, Nude Pink/裸粉色")),
    # S3: the lip gloss the cosmetics shop does not carry; only the online partner sells it.
    Line("makeup", "petalkiss", "Lip Gloss {v} 4.5 ml", "唇釉 {z} 4.5毫升", 8900, None, {},
         _flavours("Jelly Peach/果冻蜜桃, Mirror Red/镜面红, Clear Shine/透明亮泽, Berry Glaze/莓果")),
    Line("makeup", "petalkiss", "Lip Oil {v} 4 ml", "唇油 {z} 4毫升", 7900, None, {},
         _flavours("Honey/蜂蜜, Cherry/樱桃")),
    Line("makeup", "petalkiss", "Tinted Lip Balm 3.5 g", "有色润唇膏 3.5克", 5900),
)

PRODUCT_LINES = (BAKERY_LINES + DAIRY_LINES + FRESH_LINES + MEAT_LINES + SNACK_LINES + BEVERAGE_LINES
                 + GROCERY_LINES + HOUSEHOLD_LINES + PERSONAL_CARE_LINES + COSMETICS_LINES)

# Who sells what. A brand listed here is sold by that merchant only (own labels);
# otherwise the category decides, with the share of the category each merchant carries.
EXCLUSIVE_BRANDS = {"sweetlane": BAKERY, "blueharbour": FRESH, "petalkiss": ONLINE}
CATEGORY_SELLERS: dict[str, dict[str, float]] = {
    "bakery": {CONVENIENCE: 1.0, FRESH: 1.0, ONLINE: 1.0},
    "dairy": {CONVENIENCE: 0.8, FRESH: 1.0, ONLINE: 1.0},
    "fresh_produce": {FRESH: 1.0, ONLINE: 0.5},
    "meat_seafood": {FRESH: 1.0},
    "snacks": {CONVENIENCE: 0.75, FRESH: 0.6, ONLINE: 1.0},
    "beverages": {CONVENIENCE: 0.85, FRESH: 0.7, ONLINE: 1.0},
    "grocery": {CONVENIENCE: 0.5, FRESH: 0.8, ONLINE: 1.0},
    "frozen": {CONVENIENCE: 0.6, FRESH: 1.0, ONLINE: 1.0},
    "household": {CONVENIENCE: 0.5, FRESH: 0.4, ONLINE: 1.0},
    "personal_care": {CONVENIENCE: 0.5, FRESH: 0.4, ONLINE: 1.0},
    "baby": {CONVENIENCE: 0.4, ONLINE: 1.0},
    "pet": {ONLINE: 1.0},
    "skincare": {COSMETICS: 1.0, ONLINE: 0.9},
    "makeup": {COSMETICS: 1.0, ONLINE: 0.8},
}
# A convenience store charges a little more than the list price (rounded to 10 fen).
PRICE_MARKUP = {CONVENIENCE: 1.08}

# Channel prices set on purpose (S12): Blue Harbour's app-only deals, and Daily Corner's
# higher price on bulky packs it sells through delivery apps. Keyed by full product title.
CHANNEL_PRICES: dict[tuple[str, str], dict[str, int]] = {
    (FRESH, "Yunnan Sun Orchards Strawberries 500 g"): {"online": 3590},
    (FRESH, "Zhoushan Catch Whiteleg Shrimp 400 g"): {"online": 3990},
    (FRESH, "Qiandao Lake Farms Free-Range Eggs 10 pcs"): {"online": 1690},
    (CONVENIENCE, "Clear Peak Natural Mineral Water 550 ml x 24"): {"online": 5600},
    (CONVENIENCE, "Bubble Up Cola 330 ml x 24"): {"online": 6600},
}
